# The device configuration: its schema, its defaults and every rule between settings, in one
# place. `host config validate`, `config push`, PUT_CONFIG and the board's boot all call it, so
# a config it accepts is one the board runs (docs/config.md lists every setting).
#
# resolve(cfg) returns the complete settings: one plain dict (JSON's own shape, the same on
# MicroPython, CircuitPython and CPython, no class code in a board's heap), every key present,
# every default filled in, plus "polled": the quantities a poll reads. The board modules and
# the app take their values from it and check nothing again. Boot-only on a board: the runner
# forgets these modules (netmeter.runner CONFIG_MODULES) once the settings are made.
#
# Sections: shared.configcheck (the checks and their messages), shared.configboards (what
# each board can do), shared.configpulses and shared.confignetting (loaded only for a config
# that has the section); the meter map is checked by building it (shared.mapconfig).

from shared.configcheck import (  # noqa: F401 - ConfigInvalid is re-exported
    ConfigInvalid,
    int_in,
    known_keys,
    one_of,
    section,
    shown,
)

POLL_PERIODS_S = tuple([p for p in range(1, 61) if 60 % p == 0])  # polls meet every boundary
DEVICE_ID_MAX = 32
PARITIES = ("none", "even", "odd")
SEGMENT_RECORDS = 192  # netmeter.store's segment: capacity is at least one

DEFAULTS = {
    "board": "unix_sim",
    "device_id": None,  # None: the chip's unique id (the board's name on the simulator)
    "meter": {"MAP": "generic"},
    "poll_period_s": 1,
    "timeout_ms": 200,
    "retries": 1,
    "phases": 3,
    "watchdog_ms": 8000,
    "checkpoint_s": 60,
    "capacity": None,  # None: the board's (shared.configboards)
    "netting": {},
    "pulses": {},
    "rs485": {},
    "rtc": None,  # an external I2C RTC: {"chip": "ds3231" | "pcf8523", "i2c", "sda", "scl"}
}
NETTING_DEFAULTS = {
    "interval_min": 15,
    "billing": "registers",
    "sources": ("registers", "power"),
    "summation": "vector",
    "site_limit_w": 100000,
    "max_gap_s": 30,
    "pulse_imp_per_kwh": 1000,  # default: pulses.imp_per_kwh
    "pulse_wh_per_pulse": None,  # instead of pulse_imp_per_kwh, e.g. 2.5
    "crosscheck_percent": 2,  # None: no cross-check
    "crosscheck_floor_mwh": 0,
}
RS485_DEFAULTS = {"baud": 9600, "parity": "none", "stop_bits": None}
_INTS = {
    "timeout_ms": (10, 10000),
    "retries": (0, 5),
    "phases": (1, 3),
    "checkpoint_s": (1, 3600),
}


def validate(cfg, release=None):
    """cfg unchanged if the board would run it; ConfigInvalid (one line) if not. release: as
    for resolve."""
    resolve(cfg, release)
    return cfg


def settings(cfg):
    """The complete settings of a valid cfg (see resolve)."""
    return resolve(cfg)[0]


def resolve(cfg, release=None):
    """(settings, register map) of cfg; ConfigInvalid naming key, value and rule.

    A section's checks load only for a config that has the section: an absent one is its
    defaults, which are valid (a small board validating a PUT_CONFIG keeps that heap).
    release(names): called with a section's module names once resolve is done with them; a
    board passes netmeter.heap.forget_modules, so that each section's code goes before the
    next one loads and the validator's peak is its core and one section, not all of them."""
    from shared.configboards import BOARDS

    if not isinstance(cfg, dict):
        raise ConfigInvalid("the configuration must be a JSON object, got %s" % (shown(cfg),))
    known_keys("", cfg, tuple(DEFAULTS))
    out = dict(DEFAULTS)
    out.update(cfg)
    board = one_of("board", out["board"], tuple(sorted(BOARDS)))
    caps = BOARDS[board]
    BOARDS = None
    _done(release, "shared.configboards")
    if out["device_id"] is not None:
        _device_id(out["device_id"])
    one_of("poll_period_s", out["poll_period_s"], POLL_PERIODS_S)
    for key in _INTS:
        low, high = _INTS[key]
        int_in(key, out[key], low, high)
    int_in("watchdog_ms", out["watchdog_ms"], 1000, caps["watchdog_max_ms"])
    if out["capacity"] is None:
        out["capacity"] = caps["capacity"]
    int_in("capacity", out["capacity"], SEGMENT_RECORDS, caps["capacity_max"])
    out["rs485"] = rs485_section(out["rs485"])
    imp = _pulses_and_rtc(out, board, caps, release)
    if out["netting"] != {}:
        from shared.confignetting import netting_section

        out["netting"] = netting_section(out["netting"], NETTING_DEFAULTS, imp)
        netting_section = None
        _done(release, "shared.confignetting")
    else:
        out["netting"] = dict(NETTING_DEFAULTS)
        if imp is not None:
            out["netting"]["pulse_imp_per_kwh"] = imp
    meter = section("meter", out["meter"])
    from shared.mapconfig import build_map

    try:
        regmap = build_map(meter)
    except ValueError as exc:  # regmap.ConfigError is a ValueError
        raise ConfigInvalid("meter: %s" % exc)
    finally:
        build_map = None
        _done(release, "shared.mapconfig")
    out["polled"] = polled_names(regmap, out["phases"], out["netting"]["sources"])
    _poll_rules(out, regmap)
    return out, regmap


def _pulses_and_rtc(out, board, caps, release):
    """The pulses section (and the rtc's, whose pins must not be the S0 inputs) checked
    against the board's capabilities; returns the pulse constant the config gave, if any."""
    pulses = out["pulses"]
    imp = None
    if pulses != {}:
        from shared.configpulses import pulses_section

        out["pulses"] = pulses_section(pulses, board, caps)
        pulses_section = None
        imp = pulses.get("imp_per_kwh")
    else:
        from shared.s0 import PULSE_DEFAULTS

        out["pulses"] = dict(PULSE_DEFAULTS, pins=caps["pins"])
        PULSE_DEFAULTS = None
    _done(release, "shared.configpulses shared.s0")
    if out["rtc"] is not None:
        from shared.configrtc import rtc_section

        out["rtc"] = rtc_section(out["rtc"], board, caps, out["pulses"])
        rtc_section = None
        _done(release, "shared.configrtc")
    return imp


def _done(release, names):
    if release is not None:
        release(names)


def polled_names(regmap, phases, sources):
    """The quantities a poll reads: P and Q per phase (STATUS shows them; the power source
    integrates them), and the energy registers when they are a source."""
    names = []
    for ph in ("l1", "l2", "l3")[:phases]:
        names += ["p_" + ph, "q_" + ph]
    missing = [n for n in names if n not in regmap]
    if missing and "power" in sources:
        raise ConfigInvalid(
            "netting.sources = %s: the power source needs %s, which map %s does not have"
            % (shown(list(sources)), ", ".join(missing), regmap.name)
        )
    if "registers" in sources:
        names += ["import_energy", "export_energy"]
    return [n for n in names if n in regmap]


def _poll_rules(out, regmap):
    from shared.regmap import plan_reads

    period_ms = out["poll_period_s"] * 1000
    if out["netting"]["interval_min"] * 60000 % period_ms:
        raise ConfigInvalid(
            "poll_period_s = %d: must divide netting.interval_min (%d min) so that a poll "
            "falls on every interval boundary"
            % (out["poll_period_s"], out["netting"]["interval_min"])
        )
    reads = len(plan_reads(regmap, out["polled"], regmap.max_read))
    # Every read timing out on every attempt must still end before the next poll is due,
    # so no poll ever runs into the next one.
    worst_ms = reads * out["timeout_ms"] * (out["retries"] + 1)
    if worst_ms >= period_ms:
        raise ConfigInvalid(
            "timeout_ms = %d x (retries = %d + 1) x %d reads = %d ms: must stay below "
            "poll_period_s (%d ms); lower timeout_ms or retries, or poll less often"
            % (out["timeout_ms"], out["retries"], reads, worst_ms, period_ms)
        )


def rs485_section(cfg):
    """The rs485 section with defaults: baud, parity (none/even/odd), stop_bits (1 or 2).

    stop_bits defaults to Modbus RTU's 11-bit character: 2 without parity, 1 with it (a
    receiver set for one stop bit accepts two)."""
    section("rs485", cfg)
    known_keys("rs485.", cfg, tuple(RS485_DEFAULTS))
    out = dict(RS485_DEFAULTS)
    out.update(cfg)
    int_in("rs485.baud", out["baud"], 300, 1000000)
    one_of("rs485.parity", out["parity"], PARITIES)
    if out["stop_bits"] is None:
        out["stop_bits"] = 2 if out["parity"] == "none" else 1
    one_of("rs485.stop_bits", out["stop_bits"], (1, 2))
    return out


def _device_id(value):
    ok = isinstance(value, str) and 1 <= len(value) <= DEVICE_ID_MAX
    if ok:
        for ch in value:
            if not (ch.isalpha() or ch.isdigit() or ch in "-_") or ord(ch) > 127:
                ok = False
    if not ok:
        raise ConfigInvalid(
            "device_id = %s: must be 1..%d characters of A-Z a-z 0-9 - _"
            % (shown(value), DEVICE_ID_MAX)
        )
