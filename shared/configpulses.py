# The "pulses" settings (S0 inputs): ranges and the board's pins (its defaults are in
# shared.s0). Boot-only; shared.config loads it only for a config that has a pulses section.
from shared.configcheck import ConfigInvalid, int_in, is_int, known_keys, one_of, section, shown
from shared.s0 import EDGE_FALLING, EDGE_RISING, PULSE_DEFAULTS, WIRING_DIRECTION, WIRING_SEPARATE

IMP_PER_KWH_MAX = 1000000

# The Feather RP2040's `board` names and their GPIO (Adafruit's pinout).
FEATHER_RP2040_GPIO = {
    "TX": 0, "RX": 1, "SDA": 2, "SCL": 3, "D4": 6, "D5": 7, "D6": 8, "D9": 9, "D10": 10,
    "D11": 11, "D12": 12, "D13": 13, "SCK": 18, "MOSI": 19, "MISO": 20, "D24": 24, "D25": 25,
    "A0": 26, "A1": 27, "A2": 28, "A3": 29,
}  # fmt: skip


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


def pwm_b_pins(caps):
    """The inputs of an RP2040 CircuitPython board that countio can count on."""
    return [n for n in caps["inputs"] if FEATHER_RP2040_GPIO[n] % 2]


def _pin_text(caps, pin):
    if caps["counting"] == "pwm_b" and pin in FEATHER_RP2040_GPIO:
        return "%s (GPIO%d)" % (pin, FEATHER_RP2040_GPIO[pin])
    return shown(pin)


def check_pins(board, caps, pins, wiring):
    """pins complete with the board's defaults; ConfigInvalid naming the pin and the rule."""
    if caps["pins"] is None:
        if pins:
            raise ConfigInvalid("pulses.pins: board %s has no S0 pins to set" % board)
        return None
    roles = ("import", "direction") if wiring == "direction" else ("import", "export")
    known = tuple(caps["pins"])
    for role in pins:
        if role not in known:
            raise ConfigInvalid(
                "pulses.pins.%s is not an input of %s (known: %s)"
                % (role, board, ", ".join(known))
            )
    out = dict(caps["pins"])
    out.update(pins)
    used = {}
    taken = {}
    for role in roles:
        if role not in out:
            raise ConfigInvalid("pulses.wiring = %r: %s has no %s input" % (wiring, board, role))
        pin = out[role]
        key = "pulses.pins.%s = %s" % (role, _pin_text(caps, pin))
        free = caps["inputs"]
        if isinstance(pin, bool) or pin not in free or (is_int(pin) != is_int(free[0])):
            usable = pwm_b_pins(caps) if caps["counting"] == "pwm_b" else free
            raise ConfigInvalid(
                "%s: not an input %s can use (UART, DE and on-board pins are taken); use %s"
                % (key, board, ", ".join([str(p) for p in usable]))
            )
        if pin in taken:
            raise ConfigInvalid("%s: pulses.pins.%s uses it already" % (key, taken[pin]))
        taken[pin] = role
        if caps["counting"] == "pwm_b" and role != "direction":
            used[role] = _pwm_slice(caps, key, pin, used)
    return out


def _pwm_slice(caps, key, pin, used):
    """The PWM slice countio counts pin on (RP2040: an odd GPIO, a slice no other S0 input
    in used (role -> slice) counts on); ConfigInvalid otherwise."""
    gpio = FEATHER_RP2040_GPIO[pin]
    if gpio % 2 == 0:
        raise ConfigInvalid(
            "%s: countio on RP2040 needs a PWM channel-B pin (odd GPIO): use %s"
            % (key, ", ".join(pwm_b_pins(caps)))
        )
    slice_ = (gpio >> 1) & 7
    for other, other_slice in used.items():
        if other_slice == slice_:
            raise ConfigInvalid(
                "%s: PWM slice %d is already counting pulses.pins.%s; each S0 input "
                "needs a slice of its own" % (key, slice_, other)
            )
    return slice_
