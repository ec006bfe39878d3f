# Register-exact models of the DS3231 and PCF8523 on an I2C bus shaped like machine.I2C
# (readfrom_mem / writeto_mem), on both runtimes. Written from the datasheets, not from the
# driver: power-on values, the register address wrap, read-only and write-to-clear bits.
#
# DS3231 (Maxim 19-5170, Figure 1 and "Control/Status Register"): 13h registers 00h-12h, the
# address pointer wraps from 12h to 00h; power-on: time 2000-01-01 00:00:00 (date, month and
# day 01), control 0Eh = 1Ch, status 0Fh = 88h (OSF set: "the first time power is applied"),
# OSF is cleared only by writing 0 (a 1 written leaves it as it is), BSY (0Fh bit 2) and the
# temperature 11h-12h are read-only, bit 7 of 00h, 01h, 04h reads 0.
# PCF8523 (NXP product data sheet Rev. 6, section 8): 14h registers 00h-13h, the pointer
# wraps after 13h to 00h; reset: Control_1 00h, Control_2 00h, Control_3 E0h (PM 111: battery
# switch-over off, Table 11), Seconds 80h (OS set at power-on, Table 12; it cannot be cleared
# while the oscillator is not running), Days 01h, Weekdays 06h, Months 01h, Years 00h.


class Ds3231Model:
    SIZE = 0x13
    READ_ONLY = {0x11: 0xFF, 0x12: 0xFF}  # register: bits the bus cannot write
    ZERO_BITS = {0x00: 0x80, 0x01: 0x80, 0x02: 0x80, 0x03: 0xF8, 0x04: 0xC0, 0x05: 0x60}

    def __init__(self):
        self.regs = bytearray(self.SIZE)
        self.regs[0x03] = 0x01
        self.regs[0x04] = 0x01
        self.regs[0x05] = 0x01
        self.regs[0x0E] = 0x1C
        self.regs[0x0F] = 0x88

    def write(self, reg, value):
        if reg == 0x0F:
            # OSF (bit 7) only clears; BSY (bit 2) is read-only.
            osf = self.regs[0x0F] & 0x80 & value
            value = osf | (value & 0x7B) | (self.regs[0x0F] & 0x04)
        keep = self.READ_ONLY.get(reg, 0)
        value = (self.regs[reg] & keep) | (value & ~keep & 0xFF)
        self.regs[reg] = value & ~self.ZERO_BITS.get(reg, 0) & 0xFF


class Pcf8523Model:
    SIZE = 0x14
    ZERO_BITS = {0x04: 0x80, 0x05: 0xC0, 0x06: 0xC0, 0x07: 0xF8, 0x08: 0xE0}

    def __init__(self):
        self.oscillating = True  # False: a crystal that does not run (broken, unsoldered)
        self.regs = bytearray(self.SIZE)
        self.regs[0x02] = 0xE0
        self.regs[0x03] = 0x80
        self.regs[0x06] = 0x01
        self.regs[0x07] = 0x06
        self.regs[0x08] = 0x01

    def write(self, reg, value):
        if reg == 0x03 and not self.oscillating:
            value |= 0x80  # OS stays set while the oscillator does not run
        self.regs[reg] = value & ~self.ZERO_BITS.get(reg, 0) & 0xFF


class FakeI2C:
    """The bus: chips by 7-bit address. Like the ports, a missing address raises OSError
    (rp2: EIO 5) and each transfer sets the chip's address pointer, which auto-increments."""

    def __init__(self, chips):
        self.chips = chips
        self.transfers = []

    def _chip(self, addr):
        chip = self.chips.get(addr)
        if chip is None:
            raise OSError(5)
        return chip

    def readfrom_mem(self, addr, memaddr, nbytes):
        chip = self._chip(addr)
        self.transfers.append(("r", addr, memaddr, nbytes))
        out = bytearray(nbytes)
        for i in range(nbytes):
            out[i] = chip.regs[(memaddr + i) % chip.SIZE]
        return bytes(out)

    def writeto_mem(self, addr, memaddr, buf):
        chip = self._chip(addr)
        self.transfers.append(("w", addr, memaddr, bytes(buf)))
        for i in range(len(buf)):
            chip.write((memaddr + i) % chip.SIZE, buf[i])
