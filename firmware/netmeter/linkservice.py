# The host link in the main loop: console bytes in, replies out, between meter polls.
#
# Small on purpose: it is loaded at boot, the server (netmeter.link, netmeter.linkdevice) only
# when a host first sends a frame.


class LinkService:
    """Console bytes in, replies out: serve() once per loop pass, never blocking.

    The server and its buffers are built when the first "#" (a frame marker's first byte)
    arrives, so a board that no host talks to keeps that heap."""

    def __init__(self, console, make_server):
        self.console = console
        self.server = None
        self._make_server = make_server
        self.failures = 0

    def serve(self):
        try:
            self._serve()
        except Exception as exc:  # noqa: BLE001 - the link must never stop the metering
            self.failures += 1
            print("netmeter link: %s: %s" % (type(exc).__name__, exc))

    def _serve(self):
        data = self.console.read(256)
        if not data:
            return
        if self.server is None:
            if data.find(b"#") < 0:
                return
            self.server = self._make_server()
        reply = self.server.receive(data)
        if reply:
            self.console.write(reply)


def make_link(app, hw, config, root=None, console=None):
    """The link service of a running app on the board's console."""
    if root is None:
        root = hw.fs_root
    if console is None:
        from boards.drivers.console import StdioConsole

        console = StdioConsole()

    def make_server():
        from netmeter.link import Counter, LinkServer
        from netmeter.linkdevice import COUNTER_FILE, KEY_FILE, AppDevice, load_key

        device = AppDevice(app, hw, config, root)
        key = load_key(root + "/" + KEY_FILE)
        return LinkServer(device, key, Counter(root + "/" + COUNTER_FILE))

    return LinkService(console, make_server)
