# Register maps: value encodings, energy counts, read planning and config errors, on both runtimes.
from dualtest import Rng, raises
from shared.mapconfig import MAP_NAMES, build_map, builtin_map, parse_address
from shared.regmap import (
    ABCD,
    BADC,
    CDAB,
    DATA_TYPES,
    DCBA,
    FLOAT32,
    READ_HOLDING,
    READ_INPUT,
    SINT16,
    SINT32,
    UINT16,
    UINT32,
    WORD_ORDERS,
    ConfigError,
    Quantity,
    RegisterMap,
    energy_count,
    float32_to_scaled_int,
    mwh_per_count,
    plan_reads,
)


def q_of(dtype, order=ABCD, multiplier=1, sf=0, unit="W", address=0, function=READ_HOLDING):
    return Quantity("x", function, address, dtype, order, multiplier, sf, unit)


# ---- encodings -----------------------------------------------------------------------------


def test_word_orders_of_a_32_bit_value():
    expected = {
        ABCD: [0x1234, 0x5678],
        CDAB: [0x5678, 0x1234],
        BADC: [0x3412, 0x7856],
        DCBA: [0x7856, 0x3412],
    }
    for order, words in expected.items():
        q = q_of(UINT32, order)
        assert q.encode(0x12345678) == words, order
        assert q.decode(words) == 0x12345678, order


def test_word_orders_of_a_16_bit_value():
    for order, word in ((ABCD, 0x1234), (CDAB, 0x1234), (BADC, 0x3412), (DCBA, 0x3412)):
        q = q_of(UINT16, order)
        assert q.encode(0x1234) == [word] and q.decode([word]) == 0x1234


def test_float32_words():
    q = q_of(FLOAT32)
    assert q.encode(10.0) == [0x4120, 0x0000]
    assert q.decode([0x4120, 0x0000]) == 10.0
    assert q_of(FLOAT32, CDAB).decode([0x0000, 0x4120]) == 10.0
    assert q_of(FLOAT32, DCBA).decode([0x0000, 0x2041]) == 10.0
    assert q.decode([0xC2F6, 0xE979]) == -123.45600128173828


def test_signed_types():
    assert q_of(SINT16).decode([0xFFFF]) == -1
    assert q_of(SINT16).encode(-2) == [0xFFFE]
    assert q_of(SINT32).decode([0xFFFF, 0xFFFE]) == -2
    assert q_of(SINT32, CDAB).encode(-100000) == [0x7960, 0xFFFE]
    assert q_of(UINT32).decode([0xFFFF, 0xFFFE]) == 0xFFFFFFFE


def test_sunspec_not_implemented_is_none():
    q = q_of(SINT16, sf=-1)
    assert q.decode([0x8000]) is None
    assert q.encode(None) == [0x8000]
    assert q.decode([0x8001]) == -3276.7
    raises(ValueError, q_of(UINT16).encode, None)


def test_scales():
    assert q_of(UINT32, multiplier=0.1).decode([0, 1234]) == 123.4
    assert q_of(SINT16, sf=-2).decode([0xFF9C]) == -1.0
    assert q_of(SINT16, sf=2).decode([3]) == 300
    assert q_of(UINT16, multiplier=0.001).encode(1.5) == [1500]
    assert q_of(SINT32, sf=1).encode(-120) == [0xFFFF, 0xFFF4]
    q = q_of(UINT16, multiplier=0.1)
    assert (q.scale_num, q.scale_den) == (1, 10)


def test_encode_out_of_range_raises():
    error = raises(ValueError, q_of(SINT16).encode, 40000)
    assert "SINT16 range -32768..32767" in str(error)
    raises(ValueError, q_of(UINT32).encode, -1)


def test_energy_register_wraps_on_encode():
    q = q_of(UINT16, unit="Wh")
    assert q.encode(65536 + 5) == [5]
    assert q_of(UINT32, unit="Wh").encode((1 << 32) + 7) == [0, 7]


def test_round_trip_every_type_and_word_order():
    rng = Rng(3)
    ranges = {
        UINT16: (0, 0xFFFF),
        SINT16: (-0x7FFF, 0x7FFF),  # -0x8000 is "not implemented"
        UINT32: (0, 0xFFFFFFFF),
        SINT32: (-0x80000000, 0x7FFFFFFF),
    }
    for dtype in DATA_TYPES:
        for order in WORD_ORDERS:
            q = q_of(dtype, order)
            assert len(q.encode(1)) == q.size == (1 if dtype.endswith("16") else 2)
            for _ in range(50):
                if dtype == FLOAT32:
                    bits = rng.next() & 0x7F7FFFFF  # finite floats of either sign
                    bits |= rng.below(2) << 31
                    words = q.encode(q.decode(list(_to_order(bits, order))))
                    assert words == list(_to_order(bits, order)), (order, bits)
                else:
                    low, high = ranges[dtype]
                    value = low + rng.next() * (rng.next() + 1) % (high - low + 1)
                    words = q.encode(value)
                    assert all(0 <= w <= 0xFFFF for w in words)
                    assert q.decode(words) == value, (dtype, order, value)
            for edge in ranges.get(dtype, (0, 0)):
                assert q.decode(q.encode(edge)) == edge


def _to_order(bits, order):
    w0, w1 = bits >> 16, bits & 0xFFFF
    if order in (CDAB, DCBA):
        w0, w1 = w1, w0
    if order in (BADC, DCBA):
        w0 = ((w0 & 0xFF) << 8) | (w0 >> 8)
        w1 = ((w1 & 0xFF) << 8) | (w1 >> 8)
    return w0, w1


# ---- energy counts for the integer netting core ----------------------------------------------


def test_integer_energy_register_count_and_wrap():
    q = builtin_map("generic").quantity("import_energy")
    assert energy_count(q, [0x0001, 0xE240]) == (123456, 32)
    assert mwh_per_count(q) == (1000, 1)
    assert energy_count(q_of(UINT16, unit="Wh"), [0xFFFF]) == (65535, 16)


def test_scaled_energy_register_is_an_exact_rational():
    assert mwh_per_count(q_of(UINT32, multiplier=0.1, unit="Wh")) == (100, 1)
    assert mwh_per_count(q_of(UINT32, sf=-3, unit="kWh")) == (1000, 1)
    assert mwh_per_count(q_of(UINT32, sf=-5, unit="Wh")) == (1, 100)
    assert mwh_per_count(q_of(UINT32, multiplier=0.01, unit="kvarh")) == (10000, 1)
    error = raises(ValueError, mwh_per_count, q_of(UINT32, unit="W"))
    assert "not an energy unit" in str(error)


def test_float_energy_register_becomes_integer_mwh_once():
    q = builtin_map("sdm630").quantity("import_energy")
    words = q.encode(12345.678)  # nearest float32: 12345.677734375 kWh
    assert words == [0x4640, 0xE6B6]
    assert energy_count(q, words) == (12345677734, None)  # .375 mWh rounds down
    assert mwh_per_count(q) == (1, 1)
    assert energy_count(q, [0, 0]) == (0, None)
    assert energy_count(q, q.encode(0.25)) == (250000, None)
    assert energy_count(q, q.encode(-1.5)) == (-1500000, None)


def test_float32_exact_rounding_ties_to_even():
    # 0.5 and 1.5 and 2.5 (float32 exact) times 1/1: ties go to the even neighbour.
    assert float32_to_scaled_int(0x3F000000, 1, 1) == 0
    assert float32_to_scaled_int(0x3FC00000, 1, 1) == 2
    assert float32_to_scaled_int(0x40200000, 1, 1) == 2
    assert float32_to_scaled_int(0x00000001, 1 << 149, 1) == 1  # smallest subnormal
    error = raises(ValueError, float32_to_scaled_int, 0x7FC00000, 1, 1)
    assert "not a finite number" in str(error)
    raises(ValueError, float32_to_scaled_int, 0xFF800000, 1, 1)


# ---- read planning -------------------------------------------------------------------------


def _spans(reads):
    return [(r.function, r.start, r.count) for r in reads]


def test_generic_full_poll_is_one_read():
    m = builtin_map("generic")
    reads = plan_reads(m, m.names())
    assert _spans(reads) == [(READ_HOLDING, 0, 48)]
    assert len(reads[0].quantities) == len(m.quantities)


def test_sdm630_reads_bridge_small_gaps_only():
    m = builtin_map("sdm630")
    reads = plan_reads(m, m.names())
    # 0x00..0x23 per phase; 0x34..0x3D totals (2-register gaps bridged); 0x46..0x4F energies.
    assert _spans(reads) == [(READ_INPUT, 0, 36), (READ_INPUT, 0x34, 10), (READ_INPUT, 0x46, 10)]
    assert _spans(plan_reads(m, m.names(), max_gap=0)) == [
        (READ_INPUT, 0, 36),
        (READ_INPUT, 0x34, 2),
        (READ_INPUT, 0x38, 2),
        (READ_INPUT, 0x3C, 2),
        (READ_INPUT, 0x46, 10),
    ]
    assert len(plan_reads(m, m.names(), max_gap=16)) == 1


def test_only_named_quantities_are_read():
    m = builtin_map("sdm630")
    reads = plan_reads(m, ["export_energy", "import_energy"])
    assert _spans(reads) == [(READ_INPUT, 0x48, 4)]
    assert [q.name for q in reads[0].quantities] == ["import_energy", "export_energy"]
    error = raises(ConfigError, plan_reads, m, ["p_l4"])
    assert "'p_l4' is not in map 'sdm630'" in str(error)


def test_reads_respect_the_register_limit():
    quantities = [Quantity("r%d" % i, READ_HOLDING, 2 * i, UINT32, unit="W") for i in range(200)]
    m = RegisterMap("big", quantities)
    reads = plan_reads(m, m.names())
    assert _spans(reads) == [(3, 0, 124), (3, 124, 124), (3, 248, 124), (3, 372, 28)]
    for limit in (2, 3, 10, 125):
        reads = plan_reads(m, m.names(), max_registers=limit)
        assert all(r.count <= limit for r in reads)
        assert sum(len(r.quantities) for r in reads) == 200
    for bad in (0, 126, 200):
        error = raises(ConfigError, plan_reads, m, m.names(), bad)
        assert "max_registers=%d" % bad in str(error) and "1..125" in str(error)
    error = raises(ConfigError, plan_reads, m, ["r0"], 1)
    assert "r0 needs 2 registers" in str(error)


def test_reads_never_mix_functions():
    m = RegisterMap(
        "mixed",
        [
            Quantity("a", READ_HOLDING, 0, UINT16),
            Quantity("b", READ_INPUT, 1, UINT16),
            Quantity("c", READ_HOLDING, 2, UINT16),
        ],
    )
    assert _spans(plan_reads(m, ["a", "b", "c"])) == [(3, 0, 3), (4, 1, 1)]


def test_read_words_of_each_quantity():
    m = builtin_map("sdm630")
    read = plan_reads(m, ["import_energy", "export_reactive"])[0]
    assert (read.start, read.count) == (0x48, 8)
    registers = list(range(8))
    assert read.words_of(m.quantity("export_reactive"), registers) == [6, 7]
    function, start, count, quantities = read
    assert (function, start, count, len(quantities)) == (4, 0x48, 8, 2)


# ---- built-in maps -------------------------------------------------------------------------

NAMES = (
    ["v_l1", "v_l2", "v_l3", "i_l1", "i_l2", "i_l3", "p_l1", "p_l2", "p_l3"]
    + ["q_l1", "q_l2", "q_l3", "s_l1", "s_l2", "s_l3", "pf_l1", "pf_l2", "pf_l3"]
    + ["freq", "p_total", "import_energy", "export_energy"]
)
SAMPLES = {
    "V": 230.5,
    "A": -12.25,
    "W": -4321,
    "var": 1234,
    "VA": 4500,
    "": -0.75,
    "Hz": 50.25,
    "Wh": 123456789,
    "kWh": 98765.5,
    "varh": 4242,
    "kvarh": 12.5,
}


def test_every_built_in_map_round_trips_all_its_quantities():
    for name in MAP_NAMES:
        m = builtin_map(name)
        for n in NAMES:
            assert n in m, (name, n)
        for q in m.quantities:
            value = SAMPLES[q.unit]
            if q.unit in ("VA", "V"):
                value = abs(value)
            words = q.encode(value)
            assert len(words) == q.size
            assert q.decode(words) == value, (name, q.name, value, q.decode(words))


def test_built_in_map_layouts():
    g = builtin_map("generic")
    assert g.quantity("import_energy").address == 0  # 40001
    assert g.quantity("export_energy").address == 14  # 40015
    assert (g.quantity("p_l1").dtype, g.quantity("import_energy").dtype) == (SINT32, UINT32)
    s = builtin_map("sdm630")
    assert (s.quantity("freq").address, s.quantity("export_reactive").address) == (0x46, 0x4E)
    assert all(q.function == READ_INPUT and q.dtype == FLOAT32 for q in s.quantities)
    assert s.quantity("import_energy").unit == "kWh"
    ss = builtin_map("sunspec203")
    assert ss.quantity("p_total").address == 40070 + 18
    assert ss.quantity("import_energy").address == 40070 + 46
    assert ss.quantity("pf_l1").decode([9500]) == 0.95  # percent with SF -2
    assert _spans(plan_reads(ss, ss.names())) == [(READ_HOLDING, 40073, 95)]


# ---- addresses and config ------------------------------------------------------------------


def test_address_notations():
    assert parse_address(40001, READ_HOLDING) == 0
    assert parse_address("40015", READ_HOLDING) == 14
    assert parse_address(400001, READ_HOLDING) == 0
    assert parse_address(465536, READ_HOLDING) == 65535
    assert parse_address(30073, READ_INPUT) == 72
    assert parse_address(300001, READ_INPUT) == 0
    assert parse_address("0x9C40", READ_HOLDING) == 40000
    assert parse_address(72, READ_INPUT) == 72


def test_address_errors_name_the_key_value_and_range():
    for bad in (-1, 40000, 70000, 465537, "0x10000", "forty"):
        error = raises(ConfigError, build_map, {"map": "generic", "REG_EXPORT_WH": bad})
        text = str(error)
        assert text.startswith("REG_EXPORT_WH=%r" % (bad,)), text
        assert "0x" in text, text
    error = raises(ConfigError, build_map, {"map": "generic", "REG_IMPORT_WH": 465536})
    assert str(error) == (
        "REG_IMPORT_WH=465536: import_energy at PDU address 65535 needs registers up to "
        "65536, past 65535; the address must be 0..65534"
    )
    error = raises(ConfigError, build_map, {"map": "sdm630", "REG_FREQ": 40071})
    assert "REG_FREQ=40071 is a Modicon holding (4xxxx) register number" in str(error)
    assert "function 04" in str(error)


def test_installer_config_builds_the_map():
    m = build_map(
        {
            "map": "generic",
            "REG_IMPORT_WH": 40001,
            "REG_EXPORT_WH": 40015,
            "DATA_TYPE": "SINT32",
            "WORD_ORDER": "CDAB",
            "SCALE": 0.1,
            "UNIT": 3,
            "SITE_LIMIT_W": 100000,
        }
    )
    assert (m.unit_id, m.site_limit_w) == (3, 100000)
    q = m.quantity("export_energy")
    assert (q.address, q.dtype, q.order, q.scale_num, q.scale_den) == (14, SINT32, CDAB, 1, 10)
    assert q.encode(-123.4) == [0xFB2E, 0xFFFF]  # SINT32 allows negative values
    assert q.decode([0xFB2E, 0xFFFF]) == -123.4
    assert mwh_per_count(q) == (100, 1)
    assert m.quantity("p_l1").order == CDAB
    m = build_map({"map": "generic", "REG_EXPORT_WH": "0x20", "reg_p_l1": 40101})
    assert (m.quantity("export_energy").address, m.quantity("p_l1").address) == (32, 100)


def test_sunspec_scale_factors_and_model_address_are_configurable():
    m = build_map({"MAP": "sunspec203", "SF_W": 1, "SF_WH": -1, "MODEL_ADDRESS": "0x9C40"})
    p = m.quantity("p_total")
    assert (p.address, p.decode([1234])) == (40000 + 18, 12340)
    assert mwh_per_count(m.quantity("import_energy")) == (100, 1)


def test_built_maps_are_independent_of_the_defaults():
    build_map({"map": "generic", "REG_EXPORT_WH": 40101, "WORD_ORDER": "DCBA"})
    assert builtin_map("generic").quantity("export_energy").address == 14
    assert builtin_map("generic").quantity("export_energy").order == ABCD


def _config_error(config):
    return str(raises(ConfigError, build_map, config))


def test_unknown_data_type_word_order_map_and_key_are_named():
    text = _config_error({"map": "generic", "DATA_TYPE": "INT32"})
    assert text == (
        "DATA_TYPE='INT32' is not a known data type; "
        "use one of UINT16, SINT16, UINT32, SINT32, FLOAT32"
    )
    text = _config_error({"map": "generic", "WORD_ORDER": "ABDC"})
    assert text == "WORD_ORDER='ABDC' is not a known word order; use one of ABCD, CDAB, BADC, DCBA"
    text = _config_error({"map": "sdm63"})
    assert text == "map='sdm63' is not a built-in map; use one of generic, sdm630, sunspec203"
    text = _config_error({"map": "sdm630", "SCALE": 0.1})
    assert text.startswith("SCALE is not a setting of map 'sdm630'; known settings are MAP,")
    text = _config_error({"map": "sdm630", "REG_P_L4": 3})
    assert text.startswith("REG_P_L4: map 'sdm630' has no quantity 'p_l4'")


def test_read_over_125_registers_is_rejected():
    text = _config_error({"map": "generic", "MAX_READ": 200})
    assert text == "MAX_READ=200: a Modbus read holds at most 125 registers (1..125)"
    assert "MAX_READ=0: must be an integer in 1..125" == _config_error({"MAX_READ": 0})
    assert build_map({"map": "sdm630", "MAX_READ": 36}).max_read == 36
    assert "MAX_READ=1: import_energy needs 2 registers" in _config_error({"MAX_READ": 1})


def test_scale_that_overflows_the_register_at_the_site_limit_is_rejected():
    text = _config_error(
        {"map": "generic", "POWER_DATA_TYPE": "SINT16", "POWER_SCALE": 1, "SITE_LIMIT_W": 100000}
    )
    assert text.startswith("POWER_SCALE=1: at SITE_LIMIT_W=100000 ")
    assert "would be raw 100000, beyond the SINT16 range (max 32767)" in text
    assert "0x03 illegal data value" in text
    assert "use POWER_SCALE >= 10 or POWER_DATA_TYPE=SINT32" in text
    text = _config_error({"map": "generic", "POWER_SCALE": 0.00001, "SITE_LIMIT_W": 100000})
    assert "POWER_SCALE=1e-05" in text and "SINT32 range (max 2147483647)" in text
    assert "POWER_SCALE >= 0.0001" in text
    text = _config_error({"map": "sunspec203", "SITE_LIMIT_W": 100000})
    assert text.startswith("SF_W=0: at SITE_LIMIT_W=100000 p_total would be raw 100000")
    assert "use SF_W >= 1" in text
    # The limits that fit pass.
    build_map({"map": "sunspec203", "SITE_LIMIT_W": 100000, "SF_W": 1, "SF_VA": 1, "SF_VAR": 1})
    build_map({"map": "generic", "POWER_DATA_TYPE": "SINT16", "SITE_LIMIT_W": 32767})
    build_map({"map": "generic", "POWER_SCALE": 0.0001, "SITE_LIMIT_W": 100000})


def test_unsigned_power_type_is_rejected():
    text = _config_error({"map": "generic", "POWER_DATA_TYPE": "UINT32"})
    assert "POWER_DATA_TYPE='UINT32'" in text and "use SINT16 or SINT32" in text


def test_numbers_out_of_range_are_named():
    assert "UNIT=0: must be an integer in 1..247" == _config_error({"UNIT": 0})
    assert "UNIT=248" in _config_error({"UNIT": 248})
    assert "SCALE=0: must be a number" in _config_error({"SCALE": 0})
    assert "SCALE=-1" in _config_error({"SCALE": -1})
    assert "SF_W=11: must be an integer in -10..10" == _config_error(
        {"map": "sunspec203", "SF_W": 11}
    )
    assert "SITE_LIMIT_W='big'" in _config_error({"SITE_LIMIT_W": "big"})
