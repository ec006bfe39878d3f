# External battery-backed RTCs on I2C (rp2, esp32): the time a board without one loses at every
# power cut (docs/timekeeping.md). At boot the board's clock is set from the chip unless the
# chip says its oscillator stopped; every SET_TIME is written to the chip.
#
# Register maps, from the datasheets (both chips answer at 7-bit address 0x68, auto-increment
# the register address, and count in BCD, 24-hour mode here):
#
# Maxim DS3231 (data sheet 19-5170, Figure 1 "Timekeeping Registers", "Control Register
# (0Eh)", "Status Register (0Fh)"):
#   00h seconds 00-59   01h minutes 00-59   02h hours (bit 6 = 12/24, 0: 24 h) 00-23
#   03h day 1-7         04h date 01-31      05h month 01-12, bit 7 = century
#   06h year 00-99      07h-0Dh alarms
#   0Eh control: bit 7 /EOSC (1 stops the oscillator on battery); power-on 1Ch
#   0Fh status: bit 7 OSF, set when the oscillator stopped (and at first power-up), cleared
#       only by writing 0; bit 3 EN32kHz; bit 2 BSY (read only); power-on 88h
# NXP PCF8523 (product data sheet Rev. 6, section 8 "Functional description": register
# overview, 8.5 power management, 8.6 time and date registers):
#   00h Control_1: bit 5 STOP, bit 3 12_24 (0: 24 h)
#   02h Control_3: bits 7-5 PM[2:0] (Table 11); the reset value 111 leaves the battery
#       switch-over OFF (the backup battery does nothing until PM is written; 000:
#       switch-over in standard mode, battery low detection on)
#   03h Seconds (Table 12): bit 7 OS, "clock integrity is not guaranteed": always set at
#       power-on, set whenever the oscillator stopped, cleared by writing 0 (not while the
#       oscillator is not running)
#   04h minutes         05h hours 00-23     06h days 01-31   07h weekdays 0-6
#   08h months 01-12    09h years 00-99
from boards.drivers.clock import fields_to_unix_ms, unix_ms_to_fields

ADDRESS = 0x68
CHIPS = ("ds3231", "pcf8523")


def bcd(n):
    return (n // 10) << 4 | n % 10


def unbcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def hours(reg, twelve):
    """Hours 0-23 of an hours register in 24-hour mode, or in 12-hour mode (bit 5 PM, bits
    4-0 hour 1-12) if another program left the chip so."""
    if not twelve:
        return unbcd(reg & 0x3F)
    return unbcd(reg & 0x1F) % 12 + (12 if reg & 0x20 else 0)


class Ds3231:
    NAME = "ds3231"

    def __init__(self, i2c, address=ADDRESS):
        self.i2c = i2c
        self.address = address

    def read_ms(self):
        """UTC in Unix ms (whole seconds), or None if the chip lost the time (OSF set)."""
        if self.i2c.readfrom_mem(self.address, 0x0F, 1)[0] & 0x80:
            return None
        r = self.i2c.readfrom_mem(self.address, 0x00, 7)
        year = 2000 + unbcd(r[6]) + (100 if r[5] & 0x80 else 0)
        return fields_to_unix_ms(
            year,
            unbcd(r[5] & 0x1F),
            unbcd(r[4] & 0x3F),
            hours(r[2], r[2] & 0x40),
            unbcd(r[1] & 0x7F),
            unbcd(r[0] & 0x7F),
        )

    def write_ms(self, unix_ms):
        """Set the chip's time (24-hour mode), keep its oscillator running on battery, and
        clear OSF: its time is good from now on."""
        y, m, d, hh, mm, ss, wd, _ms = unix_ms_to_fields(unix_ms)
        century = 0x80 if y >= 2100 else 0
        regs = bytes([bcd(ss), bcd(mm), bcd(hh), wd + 1, bcd(d), century | bcd(m), bcd(y % 100)])
        self.i2c.writeto_mem(self.address, 0x00, regs)
        control = self.i2c.readfrom_mem(self.address, 0x0E, 1)[0]
        self.i2c.writeto_mem(self.address, 0x0E, bytes([control & 0x7F]))  # /EOSC = 0
        status = self.i2c.readfrom_mem(self.address, 0x0F, 1)[0]
        self.i2c.writeto_mem(self.address, 0x0F, bytes([status & 0x7F]))  # OSF = 0


class Pcf8523:
    NAME = "pcf8523"

    def __init__(self, i2c, address=ADDRESS):
        self.i2c = i2c
        self.address = address

    def read_ms(self):
        """UTC in Unix ms (whole seconds), or None if the chip lost the time (OS set, or
        its oscillator is stopped)."""
        control1 = self.i2c.readfrom_mem(self.address, 0x00, 1)[0]
        r = self.i2c.readfrom_mem(self.address, 0x03, 7)
        if r[0] & 0x80 or control1 & 0x20:
            return None
        return fields_to_unix_ms(
            2000 + unbcd(r[6]),
            unbcd(r[5] & 0x1F),
            unbcd(r[3] & 0x3F),
            hours(r[2], control1 & 0x08),
            unbcd(r[1] & 0x7F),
            unbcd(r[0] & 0x7F),
        )

    def write_ms(self, unix_ms):
        """Set the time with OS cleared, the clock running in 24-hour mode, and battery
        switch-over on (PM = 000), without which the battery would not keep the time."""
        y, m, d, hh, mm, ss, wd, _ms = unix_ms_to_fields(unix_ms)
        control1 = self.i2c.readfrom_mem(self.address, 0x00, 1)[0]
        self.i2c.writeto_mem(self.address, 0x00, bytes([control1 & ~0x28 & 0xFF]))
        control3 = self.i2c.readfrom_mem(self.address, 0x02, 1)[0]
        self.i2c.writeto_mem(self.address, 0x02, bytes([control3 & 0x1F]))
        weekday = (wd + 1) % 7  # Sunday 0
        regs = bytes([bcd(ss), bcd(mm), bcd(hh), bcd(d), weekday, bcd(m), bcd(y % 100)])
        self.i2c.writeto_mem(self.address, 0x03, regs)


def make_chip(name, i2c):
    return Ds3231(i2c) if name == "ds3231" else Pcf8523(i2c)


def attach(machine, cfg, clock):
    """Set clock from the external RTC that cfg (the settings' "rtc" section) names, and
    have clock write it at every set. Returns a line for INFO saying how it went; a chip
    that does not answer leaves the clock as it was (unset: readings are held)."""
    where = "%s on I2C%d (sda %d, scl %d)" % (cfg["chip"], cfg["i2c"], cfg["sda"], cfg["scl"])
    try:
        i2c = machine.I2C(
            cfg["i2c"], scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]), freq=100000
        )
        chip = make_chip(cfg["chip"], i2c)
        t = chip.read_ms()
    except (OSError, ValueError) as exc:
        clock.rtc_state = "%s: no answer (%s: %s); check its wiring" % (
            where,
            type(exc).__name__,
            exc,
        )
        return clock.rtc_state
    if t is None:
        state = "%s: time lost (oscillator stopped: battery flat or missing?)" % where
    else:
        clock.set_ms(t)  # before attaching: the chip is not written back what it gave
        state = "%s: clock set from it at boot" % where
    clock.external = chip
    clock.rtc_state = state
    return state
