# What each board can do, as data: the validator checks a config against it without importing
# boards/ (whose modules need their port's machine, board or countio). The board modules wire
# what the settings give them (pins, watchdog timeout, record capacity). Boot-only.
from shared.configcheck import ConfigInvalid, is_int, shown

DEFAULT_BOARD = "unix_sim"

# The Feather RP2040's `board` names and their GPIO (Adafruit's pinout).
FEATHER_RP2040_GPIO = {
    "TX": 0, "RX": 1, "SDA": 2, "SCL": 3, "D4": 6, "D5": 7, "D6": 8, "D9": 9, "D10": 10,
    "D11": 11, "D12": 12, "D13": 13, "SCK": 18, "MOSI": 19, "MISO": 20, "D24": 24, "D25": 25,
    "A0": 26, "A1": 27, "A2": 28, "A3": 29,
}  # fmt: skip

# name: capabilities
#   watchdog_max_ms: the longest watchdog timeout the port accepts
#   capacity: records kept by default; capacity_max: what its filesystem holds at most
#   wirings: the S0 wirings its pulse driver supports
#   pins: default S0 inputs (GPIO numbers, or `board` names on CircuitPython)
#   inputs: the pins an S0 input may use (UART, DE and on-board functions left out)
#   counting: how the inputs count: "irq" (hard IRQ, any input), "pcnt" (esp32 pulse
#   counter, any input), "pwm_b" (RP2040 countio: a PWM channel-B pin, one per slice),
#   None (the simulator drives its inputs itself)
BOARDS = {
    "rp2_pico": {
        # Pico W: 848 KB of filesystem, 90 days of 15-minute records (656 KB); a Pico 2
        # (3 MB) takes a year (capacity 35040).
        "watchdog_max_ms": 8388,
        "capacity": 8640,
        "capacity_max": 35040,
        "wirings": ("separate", "direction"),
        "pins": {"import": 14, "export": 15, "direction": 13},
        "inputs": tuple(range(3, 23)) + (26, 27, 28),
        "counting": "irq",
    },
    "esp32_s3": {
        "watchdog_max_ms": 60000,
        "capacity": 35040,  # a year (2.7 MB) fits an 8 MB module's filesystem
        "capacity_max": 70080,
        "wirings": ("separate",),
        "pins": {"import": 4, "export": 5},
        "inputs": (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 21, 38, 39, 40, 41, 42),
        "counting": "pcnt",
    },
    "feather_rp2040_cp": {
        "watchdog_max_ms": 8388,
        "capacity": 35040,  # 8 MB of flash: a year fits
        "capacity_max": 70080,
        "wirings": ("separate",),
        "pins": {"import": "D5", "export": "D11"},
        "inputs": (
            "D4",
            "D5",
            "D6",
            "D10",
            "D11",
            "D12",
            "D13",
            "D24",
            "D25",
            "A0",
            "A1",
            "A2",
            "A3",
        ),  # fmt: skip
        "counting": "pwm_b",
    },
    "unix_sim": {
        "watchdog_max_ms": 60000,
        "capacity": 35040,
        "capacity_max": 1000000,
        "wirings": ("separate", "direction"),
        "pins": None,
        "inputs": None,
        "counting": None,
    },
}


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
        if caps["counting"] == "pwm_b" and role != "direction":
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
            used[role] = slice_
        if pin in taken:
            raise ConfigInvalid("%s: pulses.pins.%s uses it already" % (key, taken[pin]))
        taken[pin] = role
    return out
