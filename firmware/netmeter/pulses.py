# S0 pulse counting: allocation-free hard-IRQ edge handlers with debounce, and their config.
#
# The board layer wires pin interrupts (or a simulator) to the handlers bound in __init__;
# the main loop calls take() for the counts since the last take. Everything the handlers
# touch is preallocated (array('i') and small ints below 2**30), so they run as hard
# interrupts on rp2 and under micropython.heap_lock() in the tests.
from array import array

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

# Per-input state: three ints per input (last accepted tick, last release tick, flags).
_LAST_ACCEPT = const(0)
_LAST_RELEASE = const(1)
_FLAGS = const(2)
_ACCEPTED_ONCE = const(1)  # _LAST_ACCEPT holds a time
_RELEASED = const(2)  # the line went inactive since the last accepted edge
_RELEASE_TIMED = const(4)  # _LAST_RELEASE holds a time

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


def _default_ticks():
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


def _default_irq_section():
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


class PulseCounter:
    """Debounced S0 counts for import and export, fed by hard-IRQ handlers.

    Handlers: on_import_edge(pin), on_export_edge(pin) for separate wiring; on_pulse_edge(pin)
    for direction wiring (reads direction_pin.value() at each accepted edge). Each takes the
    interrupting pin and reads pin.value() to tell the pulse start (active level) from the
    release. An active edge is accepted only if
      - it is at least debounce_ms after the last accepted edge (bounce at the pulse start),
      - the line was released since the last accepted edge, and
      - the release was at least debounce_ms ago (bounce at the pulse end, which comes a
        full pulse width after the accepted edge and a lockout alone would count).
    Rejected active edges are counted. With both_edges=False the handlers are called on
    active edges only and only the lockout applies.
    """

    def __init__(
        self,
        debounce_ms=DEFAULT_DEBOUNCE_MS,
        active_level=0,
        direction_pin=None,
        export_level=1,
        both_edges=True,
        ticks_ms=None,
        ticks_diff=None,
        disable_irq=None,
        enable_irq=None,
    ):
        if ticks_ms is None or ticks_diff is None:
            default_ticks, default_diff = _default_ticks()
            ticks_ms = ticks_ms or default_ticks
            ticks_diff = ticks_diff or default_diff
        if disable_irq is None or enable_irq is None:
            disable_irq, enable_irq = _default_irq_section()
        self.debounce_ms = debounce_ms
        self._active = active_level
        self._release_check = bool(both_edges)
        self._dir_pin = direction_pin
        self._export_level = export_level
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self._disable_irq = disable_irq
        self._enable_irq = enable_irq
        self._counts = array("i", [0, 0, 0])
        flags = _RELEASED  # the line counts as released at boot: the first pulse is taken
        self._state = array("i", [0, 0, flags, 0, 0, flags])
        self._taken = [0, 0, 0]
        self._totals = [0, 0, 0]
        # Bound once here: creating a bound method inside an interrupt would allocate.
        self.on_import_edge = self._import_edge
        self.on_export_edge = self._export_edge
        self.on_pulse_edge = self._direction_edge

    @classmethod
    def from_config(cls, cfg, direction_pin=None, **kwargs):
        """A counter for a validated "pulses" config section (validate_pulse_config)."""
        cfg = validate_pulse_config(cfg)
        if cfg["wiring"] == WIRING_DIRECTION and direction_pin is None:
            raise ValueError("pulses.wiring = 'direction' needs a direction input pin")
        return cls(
            debounce_ms=cfg["debounce_ms"],
            active_level=0 if cfg["edge"] == EDGE_FALLING else 1,
            direction_pin=direction_pin if cfg["wiring"] == WIRING_DIRECTION else None,
            export_level=cfg["export_level"],
            **kwargs,
        )

    # -- interrupt side: no allocation below this line ------------------------------------

    def _import_edge(self, pin):
        self._edge(0, pin, IMPORT)

    def _export_edge(self, pin):
        self._edge(3, pin, EXPORT)

    def _direction_edge(self, pin):
        channel = IMPORT
        if self._dir_pin.value() == self._export_level:
            channel = EXPORT
        self._edge(0, pin, channel)

    def _edge(self, base, pin, channel):
        now = self._ticks()
        s = self._state
        flags = s[base + _FLAGS]
        if self._release_check and pin.value() != self._active:
            s[base + _LAST_RELEASE] = now
            s[base + _FLAGS] = flags | _RELEASED | _RELEASE_TIMED
            return
        window = self.debounce_ms
        diff = self._diff
        reject = False
        if flags & _ACCEPTED_ONCE and diff(now, s[base + _LAST_ACCEPT]) < window:
            reject = True
        elif self._release_check:
            if not flags & _RELEASED:
                reject = True
            elif flags & _RELEASE_TIMED and diff(now, s[base + _LAST_RELEASE]) < window:
                reject = True
        counts = self._counts
        if reject:
            channel = REJECTED
        else:
            s[base + _LAST_ACCEPT] = now
            s[base + _FLAGS] = (flags | _ACCEPTED_ONCE) & ~_RELEASED
        # Increment modulo 2**30 without ever forming 2**30 (a long int on 32-bit ports).
        value = counts[channel]
        if value == COUNT_MASK:
            counts[channel] = 0
        else:
            counts[channel] = value + 1

    # -- main-loop side -------------------------------------------------------------------

    def _raw(self):
        state = self._disable_irq()
        counts = self._counts
        raw = (counts[0], counts[1], counts[2])
        self._enable_irq(state)
        return raw

    def take(self):
        """(import_delta, export_delta, rejected_delta) since the last take()."""
        raw = self._raw()
        taken = self._taken
        totals = self._totals
        deltas = [0, 0, 0]
        for i in range(3):
            deltas[i] = (raw[i] - taken[i]) & COUNT_MASK
            taken[i] = raw[i]
            totals[i] += deltas[i]
        return (deltas[0], deltas[1], deltas[2])

    def totals(self):
        """(import_total, export_total, rejected_total) since boot, not wrapped; takes nothing."""
        raw = self._raw()
        taken = self._taken
        totals = self._totals
        return tuple(totals[i] + ((raw[i] - taken[i]) & COUNT_MASK) for i in range(3))
