# CircuitPython's second USB serial port (usb_cdc.data, enabled by boot.py) as the link's
# byte stream: the console (usb_cdc.console) stays the REPL's and print's.


class DataPort:
    """read() -> the bytes waiting now (at most limit), never blocking; write(data).

    name says which port the link is on (INFO's link_port): the host warns on "console"."""

    name = "data"

    def __init__(self, serial, write_timeout=1.0):
        serial.timeout = 0
        # A host that stopped reading must not hold the main loop (and the watchdog) forever.
        serial.write_timeout = write_timeout
        self._serial = serial

    def read(self, limit=256):
        waiting = self._serial.in_waiting
        if not waiting:
            return b""
        return self._serial.read(min(waiting, limit)) or b""

    def write(self, data):
        self._serial.write(data)


def data_port(usb_cdc):
    """The DataPort on usb_cdc.data, or None when boot.py did not enable it (after a deploy,
    before the first reset): the link then stays on the console."""
    data = usb_cdc.data
    return None if data is None else DataPort(data)
