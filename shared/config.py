# The device configuration's schema: one validation for the host (before upload) and the board
# (PUT_CONFIG). Errors name the key, the bad value and what is allowed.
#
# The meter map is checked by building it (shared.mapconfig), the pulse inputs by
# netmeter.pulses and the RS-485 line by boards.drivers.rs485, so each rule lives once.

POLL_PERIODS_S = tuple(p for p in range(1, 61) if 60 % p == 0)  # polls meet every boundary
INTERVALS_MIN = (1, 5, 10, 15, 30, 60)
SOURCES = ("registers", "power", "pulses")
SUMMATIONS = ("vector", "arithmetic")
DEVICE_ID_MAX = 32

# key: (low, high) for the integer settings
_INT_RANGES = {
    "timeout_ms": (10, 10000),
    "retries": (0, 5),
    "phases": (1, 3),
    "watchdog_ms": (1000, 60000),
    "baud": (300, 1000000),
}
_NETTING_INTS = {
    "site_limit_w": (1, 10000000),
    "max_gap_s": (1, 86400),
    "crosscheck_floor_mwh": (0, 100000000),
}
TOP_KEYS = (
    "board",
    "device_id",
    "meter",
    "poll_period_s",
    "netting",
    "pulses",
    "rs485",
) + tuple(sorted(_INT_RANGES))
NETTING_KEYS = (
    "interval_min",
    "billing",
    "sources",
    "summation",
    "site_limit_w",
    "max_gap_s",
    "pulse_imp_per_kwh",
    "pulse_wh_per_pulse",
    "crosscheck_percent",
    "crosscheck_floor_mwh",
)


class ConfigInvalid(ValueError):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return (isinstance(v, int) or isinstance(v, float)) and not isinstance(v, bool)


def _int_in(key, value, low, high):
    if not _is_int(value) or not low <= value <= high:
        raise ConfigInvalid("%s = %r: must be an integer in %d..%d" % (key, value, low, high))


def _one_of(key, value, allowed):
    if value not in allowed or isinstance(value, bool):
        raise ConfigInvalid(
            "%s = %r: allowed %s" % (key, value, ", ".join([str(a) for a in allowed]))
        )


def _unknown(section, cfg, known):
    for key in cfg:
        if key not in known:
            raise ConfigInvalid(
                "%s%s is not a setting (known: %s)" % (section, key, ", ".join(known))
            )


def validate(cfg, check_map=True):
    """Return cfg unchanged if it is a valid device configuration; ConfigInvalid if not.

    check_map=False skips building the meter map (the board does that at boot with the
    map's own errors; a small board may validate a new config without the map code)."""
    if not isinstance(cfg, dict):
        raise ConfigInvalid("the configuration must be a JSON object, got %r" % (cfg,))
    _unknown("", cfg, TOP_KEYS)
    if "board" in cfg:
        board = cfg["board"]
        try:
            from boards import BOARDS
        except ImportError:
            BOARDS = None
        if not isinstance(board, str) or (BOARDS is not None and board not in BOARDS):
            allowed = sorted(BOARDS) if BOARDS is not None else ["a board name"]
            raise ConfigInvalid("board = %r: allowed %s" % (board, ", ".join(allowed)))
    if "device_id" in cfg:
        _device_id(cfg["device_id"])
    if "poll_period_s" in cfg:
        _one_of("poll_period_s", cfg["poll_period_s"], POLL_PERIODS_S)
    for key in _INT_RANGES:
        if key in cfg:
            low, high = _INT_RANGES[key]
            _int_in(key, cfg[key], low, high)
    if "netting" in cfg:
        _netting(cfg["netting"])
    if "pulses" in cfg:
        from netmeter.pulses import validate_pulse_config

        try:
            validate_pulse_config(cfg["pulses"])
        except ValueError as exc:
            raise ConfigInvalid(str(exc))
    if "rs485" in cfg:
        from boards.drivers.rs485 import validate_rs485_config

        if not isinstance(cfg["rs485"], dict):
            raise ConfigInvalid("rs485 = %r: must be an object" % (cfg["rs485"],))
        _unknown("rs485.", cfg["rs485"], ("baud", "parity", "stop_bits"))
        try:
            validate_rs485_config(cfg["rs485"])
        except ValueError as exc:
            raise ConfigInvalid(str(exc))
    if "meter" in cfg:
        meter = cfg["meter"]
        if not isinstance(meter, dict):
            raise ConfigInvalid("meter = %r: must be an object with MAP and overrides" % (meter,))
        if check_map:
            from shared.mapconfig import build_map

            try:
                build_map(meter)
            except ValueError as exc:  # regmap.ConfigError is a ValueError
                raise ConfigInvalid("meter: %s" % exc)
    return cfg


def _device_id(value):
    ok = isinstance(value, str) and 1 <= len(value) <= DEVICE_ID_MAX
    if ok:
        for ch in value:
            if not (ch.isalpha() or ch.isdigit() or ch in "-_") or ord(ch) > 127:
                ok = False
    if not ok:
        raise ConfigInvalid(
            "device_id = %r: must be 1..%d characters of A-Z a-z 0-9 - _" % (value, DEVICE_ID_MAX)
        )


def _netting(net):
    if not isinstance(net, dict):
        raise ConfigInvalid("netting = %r: must be an object" % (net,))
    _unknown("netting.", net, NETTING_KEYS)
    if "interval_min" in net:
        _one_of("netting.interval_min", net["interval_min"], INTERVALS_MIN)
    sources = net.get("sources", ("registers", "power"))
    if not isinstance(sources, (list, tuple)) or not sources:
        raise ConfigInvalid(
            "netting.sources = %r: must be a non-empty list of %s" % (sources, ", ".join(SOURCES))
        )
    for name in sources:
        _one_of("netting.sources", name, SOURCES)
    if len(set(sources)) != len(sources):
        raise ConfigInvalid("netting.sources = %r: a source is listed twice" % (sources,))
    if "billing" in net:
        _one_of("netting.billing", net["billing"], tuple(sources))
    if "summation" in net:
        _one_of("netting.summation", net["summation"], SUMMATIONS)
    for key in _NETTING_INTS:
        if key in net:
            low, high = _NETTING_INTS[key]
            _int_in("netting." + key, net[key], low, high)
    pct = net.get("crosscheck_percent")
    if pct is not None and (not _is_number(pct) or not 0 <= pct <= 100):
        raise ConfigInvalid(
            "netting.crosscheck_percent = %r: must be a number in 0..100, or null (off)" % (pct,)
        )
    for key in ("pulse_imp_per_kwh", "pulse_wh_per_pulse"):
        value = net.get(key)
        if value is None and key == "pulse_wh_per_pulse":
            continue
        if key in net and (not _is_number(value) or not 0 < value <= 1000000):
            raise ConfigInvalid("netting.%s = %r: must be a number in (0, 1000000]" % (key, value))


from shared.confighash import canonical_json, config_hash  # noqa: E402,F401 - re-exported
