# The "pulses" settings (S0 inputs): defaults, ranges and the board's pins. Boot-only.
from shared.configboards import check_pins
from shared.configcheck import ConfigInvalid, int_in, known_keys, one_of, section, shown
from shared.s0 import (
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
    "pins": None,  # the board's (shared.configboards); direction wiring: import is the pulse
}
IMP_PER_KWH_MAX = 1000000


def pulses_section(cfg, board, caps):
    """The "pulses" section with defaults filled in; ConfigInvalid naming key and range.

    wiring, edge, debounce_ms, min_width_ms, imp_per_kwh, export_level (direction wiring:
    the direction input level that means export), pins (import, export, direction)."""
    section("pulses", cfg)
    known_keys("pulses.", cfg, tuple(PULSE_DEFAULTS))
    out = dict(PULSE_DEFAULTS)
    out.update(cfg)
    wiring = out["wiring"]
    if wiring not in (WIRING_SEPARATE, WIRING_DIRECTION):
        raise ConfigInvalid(
            "pulses.wiring = %s: must be %r (import and export inputs) or %r (pulse input plus "
            "direction input)" % (shown(wiring), WIRING_SEPARATE, WIRING_DIRECTION)
        )
    if wiring not in caps["wirings"]:
        raise ConfigInvalid(
            "pulses.wiring = %r: board %s counts in hardware and cannot read a direction "
            "input per edge; use %s" % (wiring, board, ", ".join(caps["wirings"]))
        )
    if out["edge"] not in (EDGE_FALLING, EDGE_RISING):
        raise ConfigInvalid(
            "pulses.edge = %s: must be %r (S0 output pulling a pulled-up input low) or %r"
            % (shown(out["edge"]), EDGE_FALLING, EDGE_RISING)
        )
    width = int_in("pulses.min_width_ms", out["min_width_ms"], 1, 10000)
    debounce = out["debounce_ms"]
    if isinstance(debounce, bool) or not isinstance(debounce, int) or not 0 <= debounce < width:
        raise ConfigInvalid(
            "pulses.debounce_ms = %s: must be an integer with 0 <= debounce_ms < min_width_ms "
            "(%d); a debounce window as long as the pulse rejects real pulses"
            % (shown(debounce), width)
        )
    int_in("pulses.imp_per_kwh", out["imp_per_kwh"], 1, IMP_PER_KWH_MAX)
    one_of("pulses.export_level", out["export_level"], (0, 1))
    pins = out["pins"]
    if pins is not None:
        section("pulses.pins", pins)
    out["pins"] = check_pins(board, caps, pins or {}, wiring)
    return out
