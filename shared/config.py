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
# Sections: shared.configboards (what each board can do), shared.configpulses and
# shared.confignetting, which take the checks below (every refusal reads the same way:
# "key = value: rule; fix"); the meter map is checked by building it (shared.mapconfig).
#
# Whole-number floats are refused wherever an integer is meant (JSON 10.0 is a float): the
# firmware does integer arithmetic on these settings, and refusing says so at the host
# ("write 10, not 10.0") instead of truncating or failing at the next boot.

VALUE_MAX = 60  # characters of a bad value quoted in a message


class ConfigInvalid(ValueError):
    pass


def shown(value):
    """repr(value), cut to a readable length."""
    text = repr(value)
    if len(text) > VALUE_MAX:
        text = text[: VALUE_MAX - 3] + "..."
    return text


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


def _whole_float_hint(value):
    if isinstance(value, float) and value == value and value == int(value):
        return "; write %d, not %r" % (int(value), value)
    return ""


def int_in(key, value, low, high):
    """value if it is an integer in low..high; ConfigInvalid naming key, value and range."""
    if not is_int(value) or not low <= value <= high:
        raise ConfigInvalid(
            "%s = %s: must be an integer in %d..%d%s"
            % (key, shown(value), low, high, _whole_float_hint(value))
        )
    return value


def number_in(key, value, low, high, low_open=False):
    """value if it is a number in low..high ((low..high] with low_open)."""
    ok = is_number(value) and value <= high and (value > low if low_open else value >= low)
    if not ok:
        raise ConfigInvalid(
            "%s = %s: must be a number in %s%r..%r"
            % (key, shown(value), "> " if low_open else "", low, high)
        )
    return value


def one_of(key, value, allowed):
    """value if it is one of allowed (a whole-number float is not an integer here)."""
    ok = not isinstance(value, bool) and not isinstance(value, float) and value in allowed
    if not ok:
        raise ConfigInvalid(
            "%s = %s: allowed %s%s"
            % (key, shown(value), ", ".join([str(a) for a in allowed]), _whole_float_hint(value))
        )
    return value


def section(key, value):
    """value if it is a JSON object (a dict)."""
    if not isinstance(value, dict):
        raise ConfigInvalid("%s = %s: must be an object" % (key, shown(value)))
    return value


def known_keys(prefix, cfg, known):
    """Refuse a key of cfg that is not in known (a typo must not pass as a default)."""
    for key in cfg:
        if key not in known:
            raise ConfigInvalid(
                "%s%s is not a setting (known: %s)"
                % (prefix, str(key)[:VALUE_MAX], ", ".join(known))
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


def validate(cfg):
    """cfg unchanged if the board would run it; ConfigInvalid (one line) if not."""
    resolve(cfg)
    return cfg


def settings(cfg):
    """The complete settings of a valid cfg (see resolve)."""
    return resolve(cfg)[0]


def resolve(cfg):
    """(settings, register map) of cfg; ConfigInvalid naming key, value and rule.

    A section's checks load only for a config that has the section: an absent one is its
    defaults, which are valid (a small board validating a PUT_CONFIG keeps that heap)."""
    from shared.configboards import BOARDS

    if not isinstance(cfg, dict):
        raise ConfigInvalid("the configuration must be a JSON object, got %s" % (shown(cfg),))
    known_keys("", cfg, tuple(DEFAULTS))
    out = dict(DEFAULTS)
    out.update(cfg)
    board = one_of("board", out["board"], tuple(sorted(BOARDS)))
    caps = BOARDS[board]
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
    pulses = out["pulses"]
    imp = None
    if pulses != {}:
        from shared.configpulses import pulses_section

        out["pulses"] = pulses_section(pulses, board, caps)
        imp = pulses.get("imp_per_kwh")
    else:
        from shared.s0 import PULSE_DEFAULTS

        out["pulses"] = dict(PULSE_DEFAULTS, pins=caps["pins"])
    if out["netting"] != {}:
        from shared.confignetting import netting_section

        out["netting"] = netting_section(out["netting"], imp)
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
    out["polled"] = polled_names(regmap, out["phases"], out["netting"]["sources"])
    _poll_rules(out, regmap)
    return out, regmap


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
