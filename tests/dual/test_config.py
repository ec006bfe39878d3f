# The shared config schema on both runtimes: valid configs pass, each error names the key,
# the bad value and the allowed range.
from dualtest import raises
from shared.config import DEFAULTS, ConfigInvalid, resolve, settings, validate
from shared.confighash import config_hash

GOOD = {
    "board": "unix_sim",
    "device_id": "meter-7",
    "meter": {"MAP": "generic"},
    "poll_period_s": 15,
    "netting": {
        "interval_min": 15,
        "billing": "registers",
        "sources": ["registers", "power"],
        "summation": "vector",
        "site_limit_w": 50000,
        "max_gap_s": 30,
    },
    "pulses": {"imp_per_kwh": 1000},
    "rs485": {"baud": 9600, "parity": "even"},
}


def check(cfg, *words):
    message = str(raises(ConfigInvalid, validate, cfg))
    for word in words:
        assert word in message, (word, message)


def test_a_complete_config_is_valid():
    assert validate(GOOD) is GOOD
    assert validate({}) == {}


def test_errors_name_key_value_and_range():
    check({"poll_period_s": 7}, "poll_period_s = 7", "1, 2, 3")
    check({"netting": {"interval_min": 7}}, "netting.interval_min = 7", "1, 5, 10, 15, 30, 60")
    check({"netting": {"sources": ["power"], "billing": "registers"}}, "netting.billing")
    check({"netting": {"sources": ["wind"]}}, "netting.sources = 'wind'")
    check({"netting": {"summation": "both"}}, "netting.summation = 'both'", "vector")
    check({"netting": {"max_gap_s": 0}}, "netting.max_gap_s = 0", "1..86400")
    check({"netting": {"colour": 1}}, "netting.colour is not a setting")
    check({"pulses": {"debounce_ms": 50}}, "pulses.debounce_ms = 50")
    check({"rs485": {"baud": 12}}, "rs485.baud = 12", "300..1000000")
    check({"meter": {"MAP": "nosuchmeter"}}, "meter:", "nosuchmeter")
    check({"device_id": "a b"}, "device_id = 'a b'")
    check({"board": "toaster"}, "board = 'toaster'", "rp2_pico")
    check({"speed": 1}, "speed is not a setting")
    check([], "JSON object")


def test_config_hash_ignores_key_order_and_sees_changes():
    a = {"poll_period_s": 15, "netting": {"interval_min": 15, "billing": "registers"}}
    b = {"netting": {"billing": "registers", "interval_min": 15}, "poll_period_s": 15}
    assert config_hash(a) == config_hash(b) and len(config_hash(a)) == 16
    assert config_hash(a) != config_hash(dict(a, poll_period_s=5))


def test_whole_number_floats_are_refused_with_the_integer_to_write():
    # JSON 10.0 is a float: refused wherever an integer is meant, saying what to write.
    for cfg, key in (
        ({"poll_period_s": 10.0}, "poll_period_s = 10.0"),
        ({"timeout_ms": 200.0}, "timeout_ms = 200.0"),
        ({"retries": 1.0}, "retries = 1.0"),
        ({"watchdog_ms": 8000.0}, "watchdog_ms = 8000.0"),
        ({"checkpoint_s": 60.0}, "checkpoint_s = 60.0"),
        ({"capacity": 1000.0}, "capacity = 1000.0"),
        ({"netting": {"interval_min": 15.0}}, "netting.interval_min = 15.0"),
        ({"netting": {"max_gap_s": 30.0}}, "netting.max_gap_s = 30.0"),
        ({"pulses": {"imp_per_kwh": 1000.0}}, "pulses.imp_per_kwh = 1000.0"),
        ({"rs485": {"baud": 9600.0}}, "rs485.baud = 9600.0"),
    ):
        word = key.split(" = ")[1]
        check(cfg, key, "write %s, not %s" % (word[:-2], word))
    check({"meter": {"UNIT": 1.0}}, "UNIT=1.0", "integer")


def test_poll_period_must_divide_a_minute():
    for period in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60):
        assert settings({"poll_period_s": period})["poll_period_s"] == period
    for period in (0, 7, 45, 90, -15, 15.0, "15", True):
        check({"poll_period_s": period}, "poll_period_s = %r: allowed 1, 2, 3" % (period,))


def test_a_poll_that_cannot_end_before_the_next_is_refused_counting_the_maps_reads():
    # Issue 12.1: this passed validation and then stopped the board at boot.
    check(
        {"poll_period_s": 1, "timeout_ms": 1000, "retries": 2},
        "timeout_ms = 1000 x (retries = 2 + 1) x 1 reads = 3000 ms",
        "poll_period_s (1000 ms)",
    )
    # The generic map is one read; with MAX_READ 2 every quantity is a read of its own.
    assert settings({"poll_period_s": 1, "timeout_ms": 450, "retries": 1})
    check(
        {"poll_period_s": 1, "timeout_ms": 130, "retries": 0, "meter": {"MAX_READ": 2}},
        "x 8 reads = 1040 ms",
    )
    made, regmap = resolve({"meter": {"MAP": "sdm630"}, "poll_period_s": 5})
    from shared.regmap import plan_reads

    reads = len(plan_reads(regmap, made["polled"], regmap.max_read))
    worst = reads * made["timeout_ms"] * (made["retries"] + 1)
    assert worst < 5000
    check({"meter": {"MAP": "sdm630"}, "poll_period_s": 1, "timeout_ms": 300}, "%d reads" % reads)


def test_billing_must_be_one_of_the_sources_default_included():
    check({"netting": {"sources": ["power"]}}, "netting.billing = 'registers'", "set billing")
    assert settings({"netting": {"sources": ["power"], "billing": "power"}})
    check({"netting": {"sources": []}}, "netting.sources = []", "non-empty")
    check({"netting": {"sources": ["power", "power"]}}, "listed twice")


def test_the_pulse_constant_is_said_once():
    made = settings({"pulses": {"imp_per_kwh": 800}})
    assert made["netting"]["pulse_imp_per_kwh"] == 800  # the meter's constant, once
    assert (
        settings({"netting": {"pulse_imp_per_kwh": 1600}})["netting"]["pulse_imp_per_kwh"] == 1600
    )
    check(
        {"pulses": {"imp_per_kwh": 1000}, "netting": {"pulse_imp_per_kwh": 2000}},
        "netting.pulse_imp_per_kwh = 2000 differs from pulses.imp_per_kwh = 1000",
    )
    check(
        {"netting": {"pulse_imp_per_kwh": 1000, "pulse_wh_per_pulse": 2.5}},
        "pulse_wh_per_pulse = 2.5 and pulse_imp_per_kwh = 1000 both set",
    )
    assert settings({"netting": {"pulse_wh_per_pulse": 0.3125}})
    check({"netting": {"pulse_wh_per_pulse": 0.00001}}, "at most 4 decimals")
    check({"netting": {"pulse_wh_per_pulse": 0}}, "pulse_wh_per_pulse = 0")
    check({"netting": {"pulse_imp_per_kwh": 1000.5}}, "pulse_imp_per_kwh = 1000.5", "integer")


def test_settings_the_firmware_reads_are_accepted_with_their_ranges():
    # Issue 13.5: checkpoint_s and capacity were read by the firmware but refused.
    made = settings({"checkpoint_s": 300, "capacity": 8640})
    assert made["checkpoint_s"] == 300 and made["capacity"] == 8640
    check({"checkpoint_s": 0}, "checkpoint_s = 0", "1..3600")
    check({"capacity": 100}, "capacity = 100", "192..")
    check({"board": "rp2_pico", "capacity": 70080}, "capacity = 70080", "192..35040")
    assert settings({"board": "rp2_pico"})["capacity"] == 8640  # the board's default
    check({"board": "rp2_pico", "watchdog_ms": 9000}, "watchdog_ms = 9000", "1000..8388")
    assert settings({"board": "esp32_s3", "watchdog_ms": 30000})["watchdog_ms"] == 30000


def test_settings_are_complete_and_defaulted_once():
    made = settings({})
    for key in DEFAULTS:
        assert key in made, key
    assert made["board"] == "unix_sim" and made["watchdog_ms"] == 8000
    assert made["netting"]["sources"] == ("registers", "power")
    assert made["netting"]["billing"] == "registers"
    assert made["pulses"]["debounce_ms"] == 20 and made["rs485"]["stop_bits"] == 2
    assert made["polled"] == [
        "p_l1", "q_l1", "p_l2", "q_l2", "p_l3", "q_l3", "import_energy", "export_energy"
    ]  # fmt: skip
    assert settings({"phases": 1, "netting": {"sources": ["power"], "billing": "power"}})[
        "polled"
    ] == ["p_l1", "q_l1"]
    assert settings({"board": "rp2_pico"})["pulses"]["pins"] == {
        "import": 14,
        "export": 15,
        "direction": 13,
    }


def test_s0_pins_are_checked_against_the_boards_capabilities():
    check(
        {"board": "feather_rp2040_cp", "pulses": {"pins": {"export": "D6"}}},
        "pulses.pins.export = D6 (GPIO8): countio on RP2040 needs a PWM channel-B pin",
        "use D5, D11, D13, D25, A1, A3",
    )
    made = settings({"board": "feather_rp2040_cp"})
    assert made["pulses"]["pins"] == {"import": "D5", "export": "D11"}
    check({"board": "esp32_s3", "pulses": {"wiring": "direction"}}, "esp32_s3 counts in hardware")
    check({"pulses": {"pins": {"import": 3}}}, "unix_sim has no S0 pins to set")


def test_a_refusal_is_one_short_line():
    message = str(raises(ConfigInvalid, validate, {"device_id": "x" * 200000}))
    assert len(message) < 200 and "\n" not in message, message


def test_resolve_gives_each_section_back_before_the_next_one_loads():
    # A board validating a PUT_CONFIG passes netmeter.heap.forget_modules: the validator's
    # heap at most is its core and one section, never all of them at once.
    import sys

    from netmeter.heap import forget_modules

    expected = settings(GOOD)
    sections = "shared.configboards shared.configpulses shared.confignetting shared.mapconfig"
    forget_modules(sections)  # as on a board: none loaded before the validation
    watched = ["shared.config", "shared.configcheck"] + sections.split()
    seen = []

    def release(names):
        seen.append((names, sorted([n for n in watched if n in sys.modules])))
        forget_modules(names)

    made, regmap = resolve(GOOD, release)
    assert made == expected and regmap.name == "generic"
    assert [names for names, _ in seen] == [
        "shared.configboards",
        "shared.configpulses shared.s0",
        "shared.confignetting",
        "shared.mapconfig",
    ]
    core = ["shared.config", "shared.configcheck"]
    assert seen[1][1] == sorted(core + ["shared.configpulses"])
    assert seen[2][1] == sorted(core + ["shared.confignetting"])
    assert seen[3][1] == sorted(core + ["shared.mapconfig"])  # the largest, alone
    for names, _ in seen:
        for name in names.split():
            assert name not in sys.modules, name
