# The "rtc" settings: an external battery-backed RTC on I2C (boards.drivers.i2crtc), which
# keeps the time through power cuts on a board without one (docs/timekeeping.md). Boot-only;
# shared.config loads it only for a config that has an rtc section.
from shared.configcheck import ConfigInvalid, is_int, known_keys, one_of, section, shown

CHIPS = ("ds3231", "pcf8523")
KEYS = ("chip", "i2c", "sda", "scl")
BUSES = (0, 1)


def usable_pins(caps, bus, key):
    """The GPIOs a board can give I2C bus `bus` for `key` (sda or scl), UART and DE left out.

    rp2040: its function table puts I2C0 SDA on GPIO n % 4 == 0, SCL on n % 4 == 1, I2C1 on
    2 and 3 (the rp2 port refuses others: "bad SDA pin"). matrix (esp32): any free GPIO."""
    if caps["i2c"] == "matrix":
        return caps["inputs"]
    lane = 2 * bus + (1 if key == "scl" else 0)
    return tuple([n for n in caps["inputs"] if n % 4 == lane])


def rtc_section(cfg, board, caps, pulses):
    """The rtc section complete with the board's default bus and pins; ConfigInvalid naming
    the key and the rule. pulses: the complete pulses section, whose inputs in use the RTC
    may not take (a pin serves one purpose)."""
    section("rtc", cfg)
    known_keys("rtc.", cfg, KEYS)
    if caps.get("i2c") is None:
        raise ConfigInvalid(
            "rtc: board %s has no I2C RTC support (rp2_pico and esp32_s3 have); remove the "
            "rtc section" % board
        )
    if "chip" not in cfg:
        raise ConfigInvalid("rtc.chip is missing: %s" % " or ".join(CHIPS))
    out = dict(caps["i2c_default"])
    out.update(cfg)
    one_of("rtc.chip", out["chip"], CHIPS)
    one_of("rtc.i2c", out["i2c"], BUSES)
    taken = {}
    pins = pulses["pins"] or {}
    roles = ("import", "direction") if pulses["wiring"] == "direction" else ("import", "export")
    for role in roles:
        if role in pins:
            taken[pins[role]] = "pulses.pins." + role
    for key in ("sda", "scl"):
        pin = out[key]
        allowed = usable_pins(caps, out["i2c"], key)
        if not is_int(pin) or pin not in allowed:
            raise ConfigInvalid(
                "rtc.%s = %s: I2C%d of %s has %s on GPIO %s"
                % (key, shown(pin), out["i2c"], board, key.upper(), ", ".join(map(str, allowed)))
            )
        if pin in taken:
            raise ConfigInvalid("rtc.%s = %d: %s uses it already" % (key, pin, taken[pin]))
        taken[pin] = "rtc." + key
    return out
