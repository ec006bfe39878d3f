# Installer configuration of meter register maps: the built-in maps and their validation.
#
# Needed at boot only: the firmware builds its map once and then drops this module (see
# netmeter.runner), which gives a small board some 10 KB of heap back. shared/regmap.py
# holds what polling needs at run time; docs/modbus.md describes the maps and the keys.
from micropython import const

from shared.regmap import (
    ABCD,
    DATA_TYPES,
    DEFAULT_MAX_GAP,
    FLOAT32,
    MAX_READ_REGISTERS,
    POWER_UNITS,
    READ_HOLDING,
    READ_INPUT,
    SINT16,
    SINT32,
    UINT32,
    WORD_ORDERS,
    ConfigError,
    Quantity,
    RegisterMap,
    _rational,
)


def parse_address(value, function, key="address"):
    """A 0-based PDU address from an installer notation (see the module comment)."""
    text = value
    if isinstance(value, str):
        text = value.strip()
        if text[:2] in ("0x", "0X"):
            try:
                number = int(text[2:], 16)
            except ValueError:
                number = -1
            if 0 <= number <= 0xFFFF:
                return number
            raise ConfigError("%s=%r: a hex PDU address must be 0x0000..0xFFFF" % (key, value))
        try:
            text = int(text)
        except ValueError:
            raise ConfigError(
                "%s=%r is not an address; write 40001-style decimal or 0x-hex" % (key, value)
            )
    if not isinstance(text, int) or isinstance(text, bool):
        raise ConfigError("%s=%r is not an address; write an integer" % (key, value))
    number = text
    if 0 <= number <= 30000:
        return number
    for first, last, offset, fn in (
        (30001, 39999, 30001, READ_INPUT),
        (40001, 49999, 40001, READ_HOLDING),
        (300001, 365536, 300001, READ_INPUT),
        (400001, 465536, 400001, READ_HOLDING),
    ):
        if first <= number <= last:
            if fn != function:
                raise ConfigError(
                    "%s=%r is a Modicon %s register number but this quantity is read with "
                    "function %02d; use %s numbering or a 0x-hex PDU address"
                    % (
                        key,
                        value,
                        "input (3xxxx)" if fn == READ_INPUT else "holding (4xxxx)",
                        function,
                        "3xxxx" if function == READ_INPUT else "4xxxx",
                    )
                )
            return number - offset
    raise ConfigError(
        "%s=%r is outside 0-65535 after Modicon conversion; accepted: PDU address 0..30000, "
        "30001-39999/40001-49999 (5-digit Modicon), 300001-365536/400001-465536 (6-digit), "
        "or a 0x0000-0xFFFF hex PDU address" % (key, value)
    )


# ---- Built-in maps ---------------------------------------------------------------------------
# Each map is a function of the installer options so that overrides rebuild it consistently.
# Rows: (name, offset/address, dtype, unit, multiplier, sf, scale key, dtype key).

_PHASES = ("l1", "l2", "l3")


def _generic_rows(opts):
    # Holding registers, ABCD. 40001 import Wh and 40015 export Wh; the rest packs around them
    # so that a full poll is one read of 48 registers (PDU 0..47):
    #   0 import_energy  2 import_reactive  4 p_total  6/8/10 p_l1..3  12 freq (0.01 Hz)
    #   14 export_energy  16 export_reactive  18/20/22 q_l1..3  24/26/28 s_l1..3
    #   30/32/34 v_l1..3 (0.1 V)  36/38/40 i_l1..3 (mA)  42/44/46 pf_l1..3 (0.001)
    e_type = opts.get("DATA_TYPE", UINT32)
    e_scale = opts.get("SCALE", 1)
    p_type = opts.get("POWER_DATA_TYPE", SINT32)
    p_scale = opts.get("POWER_SCALE", 1)
    rows = [
        ("import_energy", 0, e_type, "Wh", e_scale, 0, "SCALE"),
        ("import_reactive", 2, e_type, "varh", e_scale, 0, "SCALE"),
        ("p_total", 4, p_type, "W", p_scale, 0, "POWER_SCALE"),
        ("freq", 12, UINT32, "Hz", 1, -2, None),
        ("export_energy", 14, e_type, "Wh", e_scale, 0, "SCALE"),
        ("export_reactive", 16, e_type, "varh", e_scale, 0, "SCALE"),
    ]
    for i, ph in enumerate(_PHASES):
        rows.append(("p_" + ph, 6 + 2 * i, p_type, "W", p_scale, 0, "POWER_SCALE"))
        rows.append(("q_" + ph, 18 + 2 * i, p_type, "var", p_scale, 0, "POWER_SCALE"))
        rows.append(("s_" + ph, 24 + 2 * i, p_type, "VA", p_scale, 0, "POWER_SCALE"))
        rows.append(("v_" + ph, 30 + 2 * i, UINT32, "V", 1, -1, None))
        rows.append(("i_" + ph, 36 + 2 * i, SINT32, "A", 1, -3, None))
        rows.append(("pf_" + ph, 42 + 2 * i, SINT32, "", 1, -3, None))
    return READ_HOLDING, 0, rows, DEFAULT_MAX_GAP


def _sdm630_rows(opts):
    # Eastron SDM630: input registers, float32, addresses from its manual (docs/facts.md).
    rows = [
        ("p_total", 0x34, FLOAT32, "W", 1, 0, None),
        ("s_total", 0x38, FLOAT32, "VA", 1, 0, None),
        ("q_total", 0x3C, FLOAT32, "var", 1, 0, None),
        ("freq", 0x46, FLOAT32, "Hz", 1, 0, None),
        ("import_energy", 0x48, FLOAT32, "kWh", 1, 0, None),
        ("export_energy", 0x4A, FLOAT32, "kWh", 1, 0, None),
        ("import_reactive", 0x4C, FLOAT32, "kvarh", 1, 0, None),
        ("export_reactive", 0x4E, FLOAT32, "kvarh", 1, 0, None),
    ]
    for i, ph in enumerate(_PHASES):
        rows.append(("v_" + ph, 0x00 + 2 * i, FLOAT32, "V", 1, 0, None))
        rows.append(("i_" + ph, 0x06 + 2 * i, FLOAT32, "A", 1, 0, None))
        rows.append(("p_" + ph, 0x0C + 2 * i, FLOAT32, "W", 1, 0, None))
        rows.append(("s_" + ph, 0x12 + 2 * i, FLOAT32, "VA", 1, 0, None))
        rows.append(("q_" + ph, 0x18 + 2 * i, FLOAT32, "var", 1, 0, None))
        rows.append(("pf_" + ph, 0x1E + 2 * i, FLOAT32, "", 1, 0, None))
    return READ_INPUT, 0, rows, DEFAULT_MAX_GAP


SUNSPEC_MODEL_ADDRESS = const(40070)  # PDU 0x9C86: "SunS" at 40000, common model 40002..40069
SUNSPEC_DEFAULT_SF = {
    "SF_A": -2,
    "SF_V": -1,
    "SF_HZ": -2,
    "SF_W": 0,
    "SF_VA": 0,
    "SF_VAR": 0,
    "SF_PF": -2,
    "SF_WH": 0,
    "SF_VARH": 0,
}


def _sunspec203_rows(opts):
    # SunSpec model 203 (wye meter), holding registers, offsets from the model's ID register.
    # int16 values with static scale-factor exponents (the *_SF registers are not read; set
    # SF_* in the config to the values the meter reports), acc32 energies in Wh/varh:
    #   3/4/5 AphA..C  8/9/10 PhVphA..C  16 Hz  18 W  19/20/21 WphA..C  24/25/26 VAphA..C
    #   28 VAR  29/30/31 VARphA..C  34/35/36 PFphA..C (percent)  38 TotWhExp  46 TotWhImp
    #   72/80/88/96 TotVArhImpQ1, ImpQ2, ExpQ3, ExpQ4. The model is one contiguous block, so
    #   every gap may be bridged: a full poll is one read of 95 registers.
    base = opts.get("MODEL_ADDRESS", SUNSPEC_MODEL_ADDRESS)

    def sf(key):
        return opts.get(key, SUNSPEC_DEFAULT_SF[key])

    rows = [
        ("freq", 16, SINT16, "Hz", 1, sf("SF_HZ"), "SF_HZ"),
        ("p_total", 18, SINT16, "W", 1, sf("SF_W"), "SF_W"),
        ("q_total", 28, SINT16, "var", 1, sf("SF_VAR"), "SF_VAR"),
        ("export_energy", 38, UINT32, "Wh", 1, sf("SF_WH"), "SF_WH"),
        ("import_energy", 46, UINT32, "Wh", 1, sf("SF_WH"), "SF_WH"),
    ]
    for i, ph in enumerate(_PHASES):
        rows.append(("i_" + ph, 3 + i, SINT16, "A", 1, sf("SF_A"), "SF_A"))
        rows.append(("v_" + ph, 8 + i, SINT16, "V", 1, sf("SF_V"), "SF_V"))
        rows.append(("p_" + ph, 19 + i, SINT16, "W", 1, sf("SF_W"), "SF_W"))
        rows.append(("s_" + ph, 24 + i, SINT16, "VA", 1, sf("SF_VA"), "SF_VA"))
        rows.append(("q_" + ph, 29 + i, SINT16, "var", 1, sf("SF_VAR"), "SF_VAR"))
        rows.append(("pf_" + ph, 34 + i, SINT16, "", (1, 100), sf("SF_PF"), "SF_PF"))
    for i, offset in enumerate((72, 80, 88, 96)):
        rows.append(
            ("reactive_q%d" % (i + 1), offset, UINT32, "varh", 1, sf("SF_VARH"), "SF_VARH")
        )
    return READ_HOLDING, base, rows, MAX_READ_REGISTERS


_BUILDERS = {"generic": _generic_rows, "sdm630": _sdm630_rows, "sunspec203": _sunspec203_rows}
_MAP_KEYS = {
    "generic": ("DATA_TYPE", "SCALE", "POWER_DATA_TYPE", "POWER_SCALE"),
    "sdm630": (),
    "sunspec203": ("MODEL_ADDRESS",) + tuple(sorted(SUNSPEC_DEFAULT_SF)),
}
_COMMON_KEYS = ("MAP", "UNIT", "WORD_ORDER", "SITE_LIMIT_W", "MAX_READ", "MAX_GAP")
_ADDRESS_ALIASES = {"REG_IMPORT_WH": "import_energy", "REG_EXPORT_WH": "export_energy"}


def _assemble(name, opts, address_keys):
    function, base, rows, max_gap = _BUILDERS[name](opts)
    order = opts.get("WORD_ORDER", ABCD)
    quantities = []
    for qname, offset, dtype, unit, multiplier, sf, scale_key in rows:
        address = base + offset
        key = address_keys.get(qname)
        if key is not None:
            address = parse_address(opts[key], function, key)
        q = Quantity(qname, function, address, dtype, order, multiplier, sf, unit, scale_key)
        q.address_key = key
        quantities.append(q)
    quantities = sorted(quantities, key=lambda q: q.address)
    return RegisterMap(name, quantities, max_gap)


def _number(config, key, low, high, integer=False):
    value = config[key]
    ok = isinstance(value, int) or (isinstance(value, float) and not integer)
    if isinstance(value, bool) or not ok or not low <= value <= high:
        raise ConfigError(
            "%s=%r: must be %s in %r..%r"
            % (key, value, "an integer" if integer else "a number", low, high)
        )
    return value


def _choice(config, key, allowed, what):
    value = config[key]
    if value not in allowed:
        raise ConfigError(
            "%s=%r is not a known %s; use one of %s" % (key, value, what, ", ".join(allowed))
        )
    return value


def build_map(config):
    """A RegisterMap from {"map": name, ...installer overrides}; ConfigError names what is wrong.

    Keys (case-insensitive): MAP (generic, sdm630, sunspec203; default generic), UNIT (1..247),
    WORD_ORDER, SITE_LIMIT_W (W; checks that power registers can hold it), MAX_READ (1..125
    registers per request), MAX_GAP (0..125 unused registers a read may bridge), REG_<NAME>
    (address of a quantity, e.g. REG_P_L1; REG_IMPORT_WH and REG_EXPORT_WH name the active
    energy registers). generic: DATA_TYPE and SCALE (multiplier) of the cumulative energy
    registers, POWER_DATA_TYPE and POWER_SCALE of the P/Q/S registers. sunspec203:
    MODEL_ADDRESS (the model's ID register) and SF_A, SF_V, SF_HZ, SF_W, SF_VA, SF_VAR,
    SF_PF, SF_WH, SF_VARH (scale-factor exponents, -10..10).
    """
    upper = {}
    for key in config:
        upper[key.upper()] = key
    name = config[upper["MAP"]] if "MAP" in upper else "generic"
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ConfigError(
            "map=%r is not a built-in map; use one of %s" % (name, ", ".join(sorted(_BUILDERS)))
        )
    template = _assemble(name, {}, {})
    address_keys = {}
    opts = {}
    allowed = _COMMON_KEYS + _MAP_KEYS[name]
    for key_upper, key in upper.items():
        if key_upper == "MAP":
            continue
        if key_upper.startswith("REG_"):
            qname = _ADDRESS_ALIASES.get(key_upper, key_upper[4:].lower())
            if qname not in template:
                raise ConfigError(
                    "%s: map %r has no quantity %r; its quantities are %s"
                    % (key, name, qname, ", ".join(sorted(template.names())))
                )
            if qname in address_keys:
                raise ConfigError("%s and %s both set %s" % (address_keys[qname], key, qname))
            address_keys[qname] = key_upper
        elif key_upper not in allowed:
            raise ConfigError(
                "%s is not a setting of map %r; known settings are %s and REG_<quantity>"
                % (key, name, ", ".join(allowed))
            )
        opts[key_upper] = config[key]
    opts = _validated(opts, name)
    regmap = _assemble(name, opts, address_keys)
    regmap.unit_id = opts.get("UNIT", 1)
    regmap.max_read = opts.get("MAX_READ", MAX_READ_REGISTERS)
    if "MAX_GAP" in opts:
        regmap.max_gap = opts["MAX_GAP"]
    regmap.site_limit_w = opts.get("SITE_LIMIT_W")
    for q in regmap.quantities:
        _check_quantity(q, regmap, opts)
    return regmap


def _validated(opts, name):
    for key in ("DATA_TYPE", "POWER_DATA_TYPE"):
        if key in opts:
            _choice(opts, key, DATA_TYPES, "data type")
    if "WORD_ORDER" in opts:
        _choice(opts, "WORD_ORDER", WORD_ORDERS, "word order")
    _check_reads(opts)
    _check_scales(opts)
    if "MODEL_ADDRESS" in opts:
        opts["MODEL_ADDRESS"] = parse_address(opts["MODEL_ADDRESS"], READ_HOLDING, "MODEL_ADDRESS")
    return opts


def _check_reads(opts):
    """UNIT, MAX_READ, MAX_GAP and SITE_LIMIT_W in their ranges."""
    if "UNIT" in opts:
        _number(opts, "UNIT", 1, 247, integer=True)
    if "MAX_READ" in opts:
        value = opts["MAX_READ"]
        if isinstance(value, int) and not isinstance(value, bool) and value > 125:
            raise ConfigError(
                "MAX_READ=%r: a Modbus read holds at most 125 registers (1..125)" % (value,)
            )
        _number(opts, "MAX_READ", 1, MAX_READ_REGISTERS, integer=True)
    if "MAX_GAP" in opts:
        _number(opts, "MAX_GAP", 0, MAX_READ_REGISTERS, integer=True)
    if "SITE_LIMIT_W" in opts:
        _number(opts, "SITE_LIMIT_W", 1, 1e9)


def _check_scales(opts):
    """SCALE and POWER_SCALE (exact as a ratio) and the SunSpec default scale factors."""
    for key in ("SCALE", "POWER_SCALE"):
        if key in opts:
            _number(opts, key, 1e-9, 1e9)
            try:
                _rational(opts[key])
            except ValueError as exc:
                raise ConfigError("%s=%r: %s" % (key, opts[key], exc))
    for key in SUNSPEC_DEFAULT_SF:
        if key in opts:
            _number(opts, key, -10, 10, integer=True)


def _check_quantity(q, regmap, opts):
    last = q.address + q.size - 1
    if last > 0xFFFF:
        key = getattr(q, "address_key", None)
        if key is None and "MODEL_ADDRESS" in opts:
            key = "MODEL_ADDRESS"
        setting = "%s=%r" % (key, opts[key]) if key else q.name
        raise ConfigError(
            "%s: %s at PDU address %d needs registers up to %d, past 65535; "
            "the address must be 0..%d" % (setting, q.name, q.address, last, 0x10000 - q.size)
        )
    if q.size > regmap.max_read:
        raise ConfigError(
            "MAX_READ=%d: %s needs %d registers in one read" % (regmap.max_read, q.name, q.size)
        )
    if q.unit not in POWER_UNITS or q.is_float:
        return
    if not q.signed and q.unit != "VA":
        raise ConfigError(
            "POWER_DATA_TYPE=%r: %s is import positive, export negative and needs a signed "
            "type; use SINT16 or SINT32" % (q.dtype, q.name)
        )
    limit = regmap.site_limit_w
    if limit is None:
        return
    high = (1 << (q.bits - 1 if q.signed else q.bits)) - 1
    # Raw value the meter must report at the site limit: ceil(limit * den / num).
    needed = -(-int(limit * q.scale_den) // q.scale_num)
    if needed <= high:
        return
    exponent = _min_exponent(limit, high, q)
    scale_key = q.scale_key or "scale"
    if scale_key.startswith("SF_"):
        setting = "%s=%d" % (scale_key, q.sf)
        fix = "%s >= %d" % (scale_key, exponent)
    else:
        setting = "%s=%r" % (scale_key, opts.get(scale_key, q.multiplier))
        fix = "%s >= %s" % (scale_key, _decimal(exponent))
    wider = " or POWER_DATA_TYPE=SINT32" if q.scale_key == "POWER_SCALE" else ""
    raise ConfigError(
        "%s: at SITE_LIMIT_W=%r %s would be raw %d, beyond the %s range (max %d), and the "
        "meter would answer 0x03 illegal data value; use %s%s"
        % (setting, limit, q.name, needed, q.dtype, high, fix, wider)
    )


def _min_exponent(limit, high, q):
    # Smallest e such that 10**e in place of q's decimal scale keeps the site limit in range.
    if q.scale_key and q.scale_key.startswith("SF_"):
        num, den = _rational(q.multiplier)  # the exponent is the setting; the multiplier stays
    else:
        num, den = 1, 1  # the multiplier itself is the setting
    exponent = -12
    while exponent < 12:
        n, d = (num * 10**exponent, den) if exponent >= 0 else (num, den * 10**-exponent)
        if limit * d <= high * n:
            return exponent
        exponent += 1
    return exponent


def _decimal(exponent):
    if exponent >= 0:
        return "1" + "0" * exponent
    return "0." + "0" * (-exponent - 1) + "1"


MAP_NAMES = ("generic", "sdm630", "sunspec203")


def builtin_map(name):
    """A built-in map with its defaults. Built on demand: all three at import would take
    some 50 KB of a board's heap."""
    return _assemble(name, {}, {})
