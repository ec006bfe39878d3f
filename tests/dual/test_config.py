# The shared config schema on both runtimes: valid configs pass, each error names the key,
# the bad value and the allowed range.
from dualtest import raises
from shared.config import ConfigInvalid, config_hash, validate

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
