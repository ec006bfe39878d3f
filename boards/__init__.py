# Board registry: board name -> module, imported only when asked for (load(name)).

# Pico and Pico 2 share rp2_pico: same pins, same drivers.
BOARDS = {
    "rp2_pico": "boards.rp2_pico",
    "esp32_s3": "boards.esp32_s3",
    "feather_rp2040_cp": "boards.feather_rp2040_cp",
    "unix_sim": "boards.unix_sim",
}


class Hardware:
    """What a board's build() returns: the parts the main loop uses. console is the host
    link's port: the board's USB serial console (stdio) unless the board has another."""

    def __init__(self, name, pulses, rs485, watchdog, clock, fs_root, console=None, **extra):
        self._console = console
        self.name = name
        self.pulses = pulses
        self.rs485 = rs485
        self.watchdog = watchdog
        self.clock = clock
        self.fs_root = fs_root
        for key in extra:
            setattr(self, key, extra[key])

    @property
    def console(self):
        if self._console is None:  # opened when the link first needs it
            from boards.drivers.console import StdioConsole

            self._console = StdioConsole()
        return self._console


def load(name):
    """The board module registered under name; ValueError naming the known boards."""
    if name not in BOARDS:
        raise ValueError("unknown board %r (known: %s)" % (name, ", ".join(sorted(BOARDS))))
    path = BOARDS[name]
    module = __import__(path)
    for part in path.split(".")[1:]:
        module = getattr(module, part)
    return module


def unique_id(machine):
    """The chip's unique id as hex (machine.unique_id()), or None where there is none."""
    read = getattr(machine, "unique_id", None)
    if read is None:
        return None
    return "".join("%02x" % b for b in read())
