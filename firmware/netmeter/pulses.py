# S0 pulse configuration, constants and tick arithmetic, shared by every board's pulse driver.
#
# The hard-IRQ counter itself is in netmeter.pulse_counter (native code for rp2 and the
# simulated board); CircuitPython and esp32 count in hardware and need only this module.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# Counters wrap below 2**30 so they stay small ints on 32-bit ports (31-bit small ints):
# the handler must never produce 2**30, not even as an intermediate value.
COUNT_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)

WIRING_SEPARATE = "separate"  # import and export on their own inputs
WIRING_DIRECTION = "direction"  # one pulse input plus a direction input
EDGE_FALLING = "falling"  # the S0 transistor pulls the pulled-up input low: pulse start
EDGE_RISING = "rising"

# Defaults (DIN 43864 / IEC 62053-31): pulses last at least 30 ms, so a 20 ms window rejects
# bounce and glitches while a real pulse (>= 30 ms on, >= 30 ms off) always passes.
DEFAULT_MIN_WIDTH_MS = const(30)
DEFAULT_DEBOUNCE_MS = const(20)
DEFAULT_IMP_PER_KWH = const(1000)

# Index of the shared counts.
IMPORT = const(0)
EXPORT = const(1)
REJECTED = const(2)

PULSE_DEFAULTS = {
    "wiring": WIRING_SEPARATE,
    "edge": EDGE_FALLING,
    "debounce_ms": DEFAULT_DEBOUNCE_MS,
    "min_width_ms": DEFAULT_MIN_WIDTH_MS,
    "imp_per_kwh": DEFAULT_IMP_PER_KWH,
    "export_level": 1,
}


def ticks_diff(a, b):
    """a - b on the 2**30 tick circle, as time.ticks_diff does (for CPython and virtual time)."""
    return ((a - b + _HALF) & COUNT_MASK) - _HALF


def default_ticks():
    import time

    if hasattr(time, "ticks_ms"):
        return time.ticks_ms, time.ticks_diff

    def ticks_ms():
        return (time.monotonic_ns() // 1000000) & COUNT_MASK

    return ticks_ms, ticks_diff


def _no_irq_disable():
    return 0


def _no_irq_enable(state):
    pass


def default_irq_section():
    try:
        import machine

        return machine.disable_irq, machine.enable_irq
    except (ImportError, AttributeError):
        # The unix port and CPython have no interrupts to mask.
        return _no_irq_disable, _no_irq_enable


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_pulse_config(cfg, key="pulses"):
    """Return the pulse config with defaults filled in; raise ValueError naming key and range.

    cfg is the "pulses" section: wiring, edge, debounce_ms, min_width_ms, imp_per_kwh,
    export_level (direction wiring: the direction input level that means export).
    """
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ValueError("%s must be a dict, got %r" % (key, cfg))
    for name in cfg:
        if name not in PULSE_DEFAULTS:
            raise ValueError(
                "%s.%s is not a pulse setting (known: %s)"
                % (key, name, ", ".join(sorted(PULSE_DEFAULTS)))
            )
    out = dict(PULSE_DEFAULTS)
    out.update(cfg)
    if out["wiring"] not in (WIRING_SEPARATE, WIRING_DIRECTION):
        raise ValueError(
            "%s.wiring = %r: must be %r (import and export inputs) or %r (pulse input plus "
            "direction input)" % (key, out["wiring"], WIRING_SEPARATE, WIRING_DIRECTION)
        )
    if out["edge"] not in (EDGE_FALLING, EDGE_RISING):
        raise ValueError(
            "%s.edge = %r: must be %r (S0 output pulling a pulled-up input low) or %r"
            % (key, out["edge"], EDGE_FALLING, EDGE_RISING)
        )
    width = out["min_width_ms"]
    if not _is_int(width) or width < 1:
        raise ValueError(
            "%s.min_width_ms = %r: must be an integer >= 1 (S0 pulses last at least 30 ms)"
            % (key, width)
        )
    debounce = out["debounce_ms"]
    if not _is_int(debounce) or debounce < 0 or debounce >= width:
        raise ValueError(
            "%s.debounce_ms = %r: must be an integer with 0 <= debounce_ms < min_width_ms (%d); "
            "a debounce window as long as the pulse rejects real pulses" % (key, debounce, width)
        )
    imp = out["imp_per_kwh"]
    if not isinstance(imp, (int, float)) or isinstance(imp, bool) or not imp > 0:
        raise ValueError(
            "%s.imp_per_kwh = %r: must be a number > 0 (pulses per kWh, e.g. 1000)" % (key, imp)
        )
    if out["export_level"] not in (0, 1) or isinstance(out["export_level"], bool):
        raise ValueError(
            "%s.export_level = %r: must be 0 or 1 (direction input level meaning export)"
            % (key, out["export_level"])
        )
    return out
