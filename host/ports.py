"""Which serial port of a CircuitPython board carries the link.

With boot.py's usb_cdc.enable(console=True, data=True) a CircuitPython board shows two USB
serial ports: the console (REPL and print) and the data port, where netmeter's link runs.
CircuitPython names their USB interfaces "<name> CDC control" and "<name> CDC2 control";
pyserial reports that name as the port's interface (Linux) or in its description.
"""

CONSOLE = "console"
DATA = "data"


def role(port):
    """CONSOLE, DATA or None for a pyserial ListPortInfo."""
    text = " ".join(filter(None, (getattr(port, "interface", None), port.description)))
    if "CDC2 control" in text:
        return DATA
    if "CDC control" in text:
        return CONSOLE
    return None


def circuitpython_ports(comports=None):
    """[(device, role, serial_number)] of the CircuitPython USB serial ports present."""
    if comports is None:
        from serial.tools.list_ports import comports as list_ports

        comports = list_ports()
    out = []
    for port in comports:
        r = role(port)
        if r is not None:
            out.append((port.device, r, port.serial_number))
    return sorted(out)


def data_port_beside(device, comports=None):
    """If device is a CircuitPython console port, the data port of the same board; else None."""
    ports = circuitpython_ports(comports)
    for dev, r, serial in ports:
        if dev == device and r == CONSOLE:
            for other, r2, serial2 in ports:
                if r2 == DATA and serial2 == serial:
                    return other
    return None
