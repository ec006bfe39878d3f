# The "pulses" config section: defaults and validation. Boot-only: the runner forgets this
# module once the board is built (netmeter.pulses.validate_pulse_config loads it when asked).
from netmeter.pulses import (
    DEFAULT_DEBOUNCE_MS,
    DEFAULT_IMP_PER_KWH,
    DEFAULT_MIN_WIDTH_MS,
    EDGE_FALLING,
    EDGE_RISING,
    WIRING_DIRECTION,
    WIRING_SEPARATE,
)

PULSE_DEFAULTS = {
    "wiring": WIRING_SEPARATE,
    "edge": EDGE_FALLING,
    "debounce_ms": DEFAULT_DEBOUNCE_MS,
    "min_width_ms": DEFAULT_MIN_WIDTH_MS,
    "imp_per_kwh": DEFAULT_IMP_PER_KWH,
    "export_level": 1,
}


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
