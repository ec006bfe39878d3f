# The host link in the main loop: console bytes in, replies out, between meter polls.
#
# Small on purpose: it is loaded at boot, the server (netmeter.link, netmeter.linkdevice) only
# when a host first sends a frame, and dropped again (its modules too) after idle_ms without
# a byte from the host, so a board that no host talks to runs on its base heap.
from shared.port import ticks_diff
from shared.port import ticks_ms as port_ticks_ms

IDLE_MS = 60000


class LinkService:
    """Console bytes in, replies out: serve() once per loop pass, never blocking.

    The server and its buffers are built when the first "#" (a frame marker's first byte)
    arrives, so a board that no host talks to keeps that heap; they are dropped again after
    idle_ms (wall clock, ticks_ms) in which the host sent nothing."""

    def __init__(self, console, make_server, idle_ms=IDLE_MS, ticks_ms=None, log=None):
        self.console = console
        self.log = log  # log(text): a failure for the error log (host log shows it)
        self.server = None
        self._make_server = make_server
        self.failures = 0
        self.idle_ms = idle_ms
        self._ticks = ticks_ms or port_ticks_ms
        self._last_rx = 0
        self.stats = None  # the dropped server's statistics, carried over to the next one

    def serve(self):
        try:
            self._serve()
        except Exception as exc:  # noqa: BLE001 - the link must never stop the metering
            self.failures += 1
            text = "%s: %s" % (type(exc).__name__, exc)
            print("netmeter link: " + text)
            if self.log is not None:
                try:
                    self.log(text)
                except Exception:  # noqa: BLE001 - nor may its error log (it was printed)
                    pass

    def _serve(self):
        data = self.console.read(256)
        if not data:
            if self.server is not None and ticks_diff(self._ticks(), self._last_rx) >= (
                self.idle_ms
            ):
                self.drop_server()
            return
        if self.server is None:
            if data.find(b"#") < 0:
                return
            self.server = self._make_server()
            if self.stats is not None:
                self.server.stats = self.stats
        self._last_rx = self._ticks()
        # Each reply is written as it is made: joined, pipelined pages need a block of
        # several KB (netmeter.link LinkServer.receive).
        self.server.receive(data, self.console.write)

    def drop_server(self):
        """Give the server's heap back: the server, its buffers and its modules' code."""
        self.stats = self.server.stats
        self.server = None
        from netmeter.heap import LINK_SERVER_MODULES, forget_modules  # netmeter.heap among them

        forget_modules(LINK_SERVER_MODULES)


def make_link(app, hw, config, root=None, console=None):
    """The link service of a running app on the board's console."""
    if root is None:
        root = hw.fs_root
    if console is None:
        console = hw.console  # the board's link port: its USB serial console, or usb_cdc.data

    def make_server():
        from netmeter.link import Counter, LinkServer
        from netmeter.linkdevice import COUNTER_FILE, KEY_FILE, AppDevice, load_key

        device = AppDevice(app, hw, config, root)
        key = load_key(root + "/" + KEY_FILE)
        return LinkServer(device, key, Counter(root + "/" + COUNTER_FILE))

    def log(text):
        from netmeter.errlog import LINK_FAILED

        app.errlog.log(hw.clock.now_ms(), LINK_FAILED, text)

    return LinkService(console, make_server, log=log)
