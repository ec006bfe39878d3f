# The external RTC drivers against register-exact models of the chips (rtcchips.py): the
# bytes they write are the datasheet's, a chip that lost its time is not believed, and the
# clock is set from a good one at boot and written at every set.
from rtcchips import Ds3231Model, FakeI2C, Pcf8523Model

from boards.drivers.clock import TicksClock
from boards.drivers.i2crtc import Ds3231, Pcf8523, attach, bcd, unbcd
from dualtest import raises

T = 1764403200000  # 2025-11-29 08:00:00 UTC, a Saturday
T2 = 1709209845000  # 2024-02-29 12:30:45 UTC, a Thursday (leap day)


def test_bcd_both_ways():
    assert [bcd(n) for n in (0, 9, 10, 59, 99)] == [0x00, 0x09, 0x10, 0x59, 0x99]
    assert [unbcd(b) for b in (0x00, 0x09, 0x10, 0x59, 0x99)] == [0, 9, 10, 59, 99]


def test_ds3231_after_power_up_has_no_time_until_written():
    chip = Ds3231Model()
    rtc = Ds3231(FakeI2C({0x68: chip}))
    assert rtc.read_ms() is None  # OSF is set at first power-up
    rtc.write_ms(T + 999)  # whole seconds: the chip has no finer register
    assert bytes(chip.regs[0:7]) == bytes([0x00, 0x00, 0x08, 0x06, 0x29, 0x11, 0x25])
    assert chip.regs[0x0F] & 0x80 == 0 and chip.regs[0x0F] & 0x08  # OSF clear, 32 kHz kept
    assert chip.regs[0x0E] == 0x1C  # /EOSC stays 0: runs on battery
    assert rtc.read_ms() == T
    rtc.write_ms(T2)
    assert bytes(chip.regs[0:7]) == bytes([0x45, 0x30, 0x12, 0x04, 0x29, 0x02, 0x24])
    assert rtc.read_ms() == T2


def test_ds3231_lost_time_and_a_stopped_oscillator_on_battery():
    chip = Ds3231Model()
    rtc = Ds3231(FakeI2C({0x68: chip}))
    chip.regs[0x0E] |= 0x80  # /EOSC set by someone: the oscillator would stop on battery
    rtc.write_ms(T)
    assert chip.regs[0x0E] & 0x80 == 0
    chip.regs[0x0F] |= 0x80  # the oscillator stopped (battery flat during a cut)
    assert rtc.read_ms() is None


def test_ds3231_read_in_12_hour_mode_and_the_century_bit():
    chip = Ds3231Model()
    rtc = Ds3231(FakeI2C({0x68: chip}))
    rtc.write_ms(T2)
    chip.regs[0x02] = 0x40 | 0x20 | 0x12  # 12-hour mode, PM, 12 -> 12:xx
    assert rtc.read_ms() == T2
    chip.regs[0x02] = 0x40 | 0x12  # 12 AM -> 00:xx
    assert rtc.read_ms() == T2 - 12 * 3600000
    chip.regs[0x02] = 0x12
    chip.regs[0x05] |= 0x80  # century: 2124
    assert rtc.read_ms() > 4800000000000


def test_pcf8523_after_reset_has_no_time_and_a_write_turns_the_battery_on():
    chip = Pcf8523Model()
    rtc = Pcf8523(FakeI2C({0x68: chip}))
    assert rtc.read_ms() is None  # OS set at power-on reset
    rtc.write_ms(T)
    # seconds (OS clear), minutes, hours, days, weekdays (Saturday 6), months, years
    assert bytes(chip.regs[3:10]) == bytes([0x00, 0x00, 0x08, 0x29, 0x06, 0x11, 0x25])
    assert chip.regs[0x02] >> 5 == 0  # PM 000: battery switch-over in standard mode
    assert rtc.read_ms() == T
    rtc.write_ms(T2)
    assert bytes(chip.regs[3:10]) == bytes([0x45, 0x30, 0x12, 0x29, 0x04, 0x02, 0x24])
    assert rtc.read_ms() == T2
    chip.regs[0x00] |= 0x20  # STOP: the clock is not running
    assert rtc.read_ms() is None
    rtc.write_ms(T)
    assert chip.regs[0x00] & 0x20 == 0 and rtc.read_ms() == T
    chip.regs[0x03] |= 0x80  # OS: the oscillator stopped since
    assert rtc.read_ms() is None


def test_pcf8523_whose_crystal_does_not_run_is_never_believed():
    chip = Pcf8523Model()
    chip.oscillating = False
    rtc = Pcf8523(FakeI2C({0x68: chip}))
    rtc.write_ms(T)
    assert chip.regs[0x03] & 0x80 and rtc.read_ms() is None


def test_pcf8523_read_in_12_hour_mode():
    chip = Pcf8523Model()
    rtc = Pcf8523(FakeI2C({0x68: chip}))
    rtc.write_ms(T)
    chip.regs[0x00] |= 0x08  # 12_24: 12-hour mode
    chip.regs[0x05] = 0x08  # 8 AM
    assert rtc.read_ms() == T
    chip.regs[0x05] = 0x20 | 0x08  # 8 PM
    assert rtc.read_ms() == T + 12 * 3600000


class Ticks:
    t = 5000

    def ticks_ms(self):
        return self.t


class Machine:
    """Just enough of machine for attach(): I2C on the fake bus, Pin as the GPIO number."""

    def __init__(self, chips):
        self.bus = FakeI2C(chips)
        self.made = []

    def Pin(self, n):
        return n

    def I2C(self, i2c_id, scl=None, sda=None, freq=None):
        self.made.append((i2c_id, scl, sda, freq))
        return self.bus


CFG = {"chip": "ds3231", "i2c": 0, "sda": 4, "scl": 5}


def test_attach_sets_the_clock_from_a_good_chip_and_writes_every_set():
    chip = Ds3231Model()
    Ds3231(FakeI2C({0x68: chip})).write_ms(T)
    machine = Machine({0x68: chip})
    ticks = Ticks()
    clock = TicksClock(ticks.ticks_ms)
    state = attach(machine, CFG, clock)
    assert clock.is_set and clock.now_ms() == T and "set from it at boot" in state
    assert machine.made == [(0, 5, 4, 100000)]
    assert not [x for x in machine.bus.transfers if x[0] == "w"]  # nothing written back
    ticks.t += 61000
    clock.set_ms(T2)  # SET_TIME
    assert bytes(chip.regs[0:7]) == bytes([0x45, 0x30, 0x12, 0x04, 0x29, 0x02, 0x24])


def test_attach_believes_no_chip_that_lost_its_time_and_sets_it_at_the_next_set():
    chip = Pcf8523Model()  # fresh from the factory, or its battery went flat
    clock = TicksClock(Ticks().ticks_ms)
    state = attach(Machine({0x68: chip}), dict(CFG, chip="pcf8523"), clock)
    assert not clock.is_set and "time lost" in state
    clock.set_ms(T)
    assert clock.is_set and Pcf8523(FakeI2C({0x68: chip})).read_ms() == T


def test_attach_without_a_chip_leaves_the_clock_unset_and_says_so():
    clock = TicksClock(Ticks().ticks_ms)
    state = attach(Machine({}), CFG, clock)
    assert not clock.is_set and "no answer" in state and clock.external is None
    clock.set_ms(T)  # the board's own clock is set all the same
    assert clock.is_set


def test_a_chip_that_stops_answering_does_not_fail_the_set():
    chip = Ds3231Model()
    machine = Machine({0x68: chip})
    clock = TicksClock(Ticks().ticks_ms)
    attach(machine, CFG, clock)
    del machine.bus.chips[0x68]
    clock.set_ms(T)
    assert clock.is_set and "not written" in clock.rtc_state
    assert raises(OSError, Ds3231(machine.bus).read_ms)
