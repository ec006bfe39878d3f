# The board while the firmware may not write its filesystem: CircuitPython's maintenance mode
# (boot.py left CIRCUITPY writable by the computer, docs/wiring.md), or a failure nothing
# else caught. Nothing is measured or written; the link answers INFO, STATUS, GET_CONFIG
# and LOG with "mode" saying why, refuses every change, and the watchdog (if one was armed:
# on CircuitPython it cannot be stopped) stays fed, so the board never reset-loops.
from netmeter.linkdevice import FIRMWARE_VERSION
from shared.port import sleep_ms

MAINTENANCE = "maintenance: the drive is writable by the computer, nothing is recorded"


class ReadOnlyDevice:
    """A LinkDevice (netmeter.link) that holds no records and refuses every change."""

    def __init__(self, board, config, mode, errors=(), link_port="console"):
        self.board = board
        self.link_port = link_port
        self.config = config
        self.mode = mode
        self.errors = list(errors)

    def info(self):
        from shared.confighash import config_hash

        return {
            "fw": FIRMWARE_VERSION,
            "board": self.board,
            "device_id": self.config.get("device_id"),
            "config_hash": config_hash(self.config),
            "config_pending": False,
            "clock_ms": 0,
            "clock_set": False,
            "first_seq": 0,
            "next_seq": 0,
            "acked": -1,
            "mode": self.mode,
            "link_port": self.link_port,
        }

    def status(self):
        return {"mode": self.mode, "p": [], "q": [], "s": [], "quadrant": [], "comm": {},
                "errors": self.log(4)}  # fmt: skip

    def seq_range(self):
        return 0, 0

    def records(self, from_seq, n):
        return ()

    def get_config(self):
        return self.config

    def log(self, n):
        return self.errors[-n:] if n else []

    def trace(self, n):
        return []

    def _refuse(self, *args):
        raise OSError("read-only (%s)" % self.mode)

    ack = put_config = set_time = reset_net = _refuse


def serve(console, device, feed=None, idle_ms=20):
    """Answer the host on console forever; feed() the watchdog each pass if given."""
    from netmeter.link import LinkServer

    server = LinkServer(device)  # no key: nothing here may change the device
    while True:
        data = console.read(256)
        if data:
            server.receive(data, console.write)
        else:
            sleep_ms(idle_ms)
        if feed is not None:
            feed()
