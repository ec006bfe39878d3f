# RS-485 half-duplex transports: machine.UART with a DE pin (rp2, esp32) and busio.UART.
from micropython import const

# A character on the wire is 11 bits: start, 8 data, parity or 2nd stop, stop.
BITS_PER_CHAR = const(11)


def char_time_us(baud):
    """One character time in microseconds, rounded up."""
    return (BITS_PER_CHAR * 1000000 + baud - 1) // baud


def machine_parity(parity):
    """machine.UART's parity argument: None, 0 (even) or 1 (odd)."""
    return {"none": None, "even": 0, "odd": 1}[parity]


class DeRs485:
    """machine.UART plus a driver-enable pin: neither rp2 nor esp32 drives DE in hardware.

    write() raises DE, writes, waits for uart.flush(), then one more character time, since
    flush() can return while the last character is still in the shift register, and only
    then drops DE (which also re-enables the receiver when /RE is tied to DE).
    """

    def __init__(self, uart, de_pin, baud, sleep_us=None):
        if sleep_us is None:
            from shared.port import sleep_us
        self.baud = baud
        self._uart = uart
        self._de = de_pin
        self._sleep_us = sleep_us
        self._char_us = char_time_us(baud)
        de_pin.value(0)

    def write(self, data):
        de = self._de
        de.value(1)
        try:
            self._uart.write(data)
            self._uart.flush()
            self._sleep_us(self._char_us)
        finally:
            de.value(0)

    def read(self):
        """Bytes received so far (b"" if none); never waits."""
        n = self._uart.any()
        if not n:
            return b""
        return self._uart.read(n) or b""


class BusioRs485:
    """CircuitPython busio.UART built with rs485_dir=: the port drives DE itself."""

    def __init__(self, uart, baud):
        self.baud = baud
        self._uart = uart

    def write(self, data):
        self._uart.write(data)

    def read(self):
        n = self._uart.in_waiting
        if not n:
            return b""
        return self._uart.read(n) or b""
