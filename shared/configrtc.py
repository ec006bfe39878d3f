# The "rtc" settings: an external battery-backed RTC on I2C (boards.drivers.i2crtc), which
# keeps the time through power cuts on a board without one (docs/timekeeping.md). Boot-only;
# shared.config loads it only for a config that has an rtc section.
from shared.configcheck import ConfigInvalid, is_int, known_keys, one_of, section, shown

CHIPS = ("ds3231", "pcf8523")
KEYS = ("chip", "i2c", "sda", "scl")


def rtc_section(cfg, board, caps, pulses):
    """The rtc section complete with the board's default bus and pins; ConfigInvalid naming
    the key and the rule. pulses: the complete pulses section, whose inputs in use the RTC
    may not take (a pin serves one purpose)."""
    section("rtc", cfg)
    known_keys("rtc.", cfg, KEYS)
    buses = caps.get("i2c")
    if buses is None:
        raise ConfigInvalid(
            "rtc: board %s has no I2C RTC support (rp2_pico and esp32_s3 have); remove the "
            "rtc section" % board
        )
    if "chip" not in cfg:
        raise ConfigInvalid("rtc.chip is missing: %s" % " or ".join(CHIPS))
    out = dict(caps["i2c_default"])
    out.update(cfg)
    one_of("rtc.chip", out["chip"], CHIPS)
    one_of("rtc.i2c", out["i2c"], tuple(sorted(buses)))
    bus = buses[out["i2c"]]
    taken = {}
    pins = pulses["pins"] or {}
    roles = ("import", "direction") if pulses["wiring"] == "direction" else ("import", "export")
    for role in roles:
        if role in pins:
            taken[pins[role]] = "pulses.pins." + role
    for key in ("sda", "scl"):
        pin = out[key]
        allowed = bus[key]
        if not is_int(pin) or pin not in allowed:
            raise ConfigInvalid(
                "rtc.%s = %s: I2C%d of %s has %s on GPIO %s"
                % (key, shown(pin), out["i2c"], board, key.upper(), ", ".join(map(str, allowed)))
            )
        if pin in taken:
            raise ConfigInvalid("rtc.%s = %d: %s uses it already" % (key, pin, taken[pin]))
        taken[pin] = "rtc." + key
    return out
