# The "rtc" section on both runtimes: an external I2C RTC on the buses and pins the board's
# chip can route, never on a pin the S0 inputs use; one line naming key, value and rule.
from dualtest import raises
from shared.config import ConfigInvalid, settings, validate


def check(cfg, *words):
    message = str(raises(ConfigInvalid, validate, cfg))
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message


def test_no_rtc_by_default_and_the_board_defaults_filled_in():
    assert settings({"board": "rp2_pico"})["rtc"] is None
    rtc = settings({"board": "rp2_pico", "rtc": {"chip": "ds3231"}})["rtc"]
    assert rtc == {"chip": "ds3231", "i2c": 0, "sda": 4, "scl": 5}
    rtc = settings({"board": "esp32_s3", "rtc": {"chip": "pcf8523", "sda": 38, "scl": 39}})
    assert rtc["rtc"] == {"chip": "pcf8523", "i2c": 0, "sda": 38, "scl": 39}
    rtc = settings({"board": "rp2_pico", "rtc": {"chip": "pcf8523", "i2c": 1, "sda": 26,
                                                 "scl": 27}})  # fmt: skip
    assert rtc["rtc"]["i2c"] == 1


def test_rp2_i2c_pins_follow_the_rp2040_function_table():
    # I2C0 SDA on GPIO n % 4 == 0, SCL on n % 4 == 1; I2C1 on 2 and 3
    check({"board": "rp2_pico", "rtc": {"chip": "ds3231", "sda": 6, "scl": 5}},
          "rtc.sda = 6", "I2C0 of rp2_pico has SDA on GPIO 4, 8, 12, 16, 20, 28")  # fmt: skip
    check(
        {"board": "rp2_pico", "rtc": {"chip": "ds3231", "i2c": 1, "sda": 2, "scl": 3}},
        "rtc.sda = 2",
    )  # fmt: skip  (GPIO 2 is the RS-485 DE pin)
    check({"board": "rp2_pico", "rtc": {"chip": "ds3231", "sda": 4, "scl": 4}}, "rtc.scl = 4")


def test_an_rtc_pin_is_not_an_s0_input_in_use():
    check({"board": "rp2_pico", "pulses": {"pins": {"import": 4}},
           "rtc": {"chip": "ds3231"}}, "rtc.sda = 4", "pulses.pins.import")  # fmt: skip
    check({"board": "esp32_s3", "rtc": {"chip": "ds3231", "sda": 4, "scl": 2}},
          "pulses.pins.import")  # fmt: skip
    # the direction input is free in separate wiring: GPIO 13 may be SCL
    validate({"board": "rp2_pico", "rtc": {"chip": "ds3231", "sda": 12, "scl": 13}})
    check({"board": "rp2_pico", "pulses": {"wiring": "direction"},
           "rtc": {"chip": "ds3231", "sda": 12, "scl": 13}}, "pulses.pins.direction")  # fmt: skip


def test_bad_rtc_sections_are_named():
    check({"board": "rp2_pico", "rtc": {}}, "rtc.chip is missing", "ds3231 or pcf8523")
    check({"board": "rp2_pico", "rtc": {"chip": "ds1307"}}, "rtc.chip = 'ds1307'", "pcf8523")
    check({"board": "rp2_pico", "rtc": {"chip": "ds3231", "i2c": 2}}, "rtc.i2c = 2", "0, 1")
    check({"board": "rp2_pico", "rtc": {"chip": "ds3231", "addr": 104}}, "rtc.addr is not")
    check({"board": "rp2_pico", "rtc": "ds3231"}, "rtc = 'ds3231': must be an object")
    check({"board": "rp2_pico", "rtc": {"chip": "ds3231", "sda": 4.0}}, "rtc.sda = 4.0")
    check({"board": "feather_rp2040_cp", "rtc": {"chip": "ds3231"}}, "no I2C RTC support")
    check({"board": "unix_sim", "rtc": {"chip": "ds3231"}}, "remove the rtc section")
