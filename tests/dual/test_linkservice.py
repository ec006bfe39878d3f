# The link service in the main loop: the server is built on the first frame marker and
# dropped, with its modules, after a quiet spell; a new frame builds it again.
import sys

from netmeter.linkservice import SERVER_MODULES, LinkService


class FakeConsole:
    def __init__(self):
        self.incoming = []
        self.written = b""

    def read(self, n):
        return self.incoming.pop(0) if self.incoming else None

    def write(self, data):
        self.written += data


class FakeServer:
    def __init__(self):
        self.stats = {"frames": 0}

    def receive(self, data):
        self.stats["frames"] += 1
        return b"ok:" + data


def test_server_built_on_marker_dropped_when_idle_and_built_again():
    saved = {name: sys.modules[name] for name in SERVER_MODULES if name in sys.modules}
    try:
        _built_dropped_built()
    finally:
        sys.modules.update(saved)  # other tests hold these modules' classes


def _built_dropped_built():
    now = [0]
    built = []

    def make():
        import netmeter.link  # noqa: F401 - what the real server loads

        built.append(FakeServer())
        return built[-1]

    console = FakeConsole()
    service = LinkService(console, make, idle_ms=1000, ticks_ms=lambda: now[0])
    console.incoming.append(b"noise")
    service.serve()
    assert service.server is None and not built
    console.incoming.append(b"#NM")
    service.serve()
    assert service.server is built[0] and console.written == b"ok:#NM"
    assert "netmeter.link" in sys.modules
    now[0] = 999
    service.serve()
    assert service.server is built[0]
    now[0] = 1000
    service.serve()
    assert service.server is None
    for name in SERVER_MODULES:
        assert name not in sys.modules, name
    console.incoming.append(b"#x")
    service.serve()
    assert service.server is built[1] and len(built) == 2
    assert service.server.stats["frames"] == 2  # statistics carry over


def test_bytes_from_the_host_keep_the_server():
    now = [0]
    console = FakeConsole()
    service = LinkService(console, FakeServer, idle_ms=1000, ticks_ms=lambda: now[0])
    for t in range(0, 5000, 500):
        now[0] = t
        console.incoming.append(b"#")
        service.serve()
        now[0] = t + 400
        service.serve()
    assert service.server is not None and service.server.stats["frames"] == 10


def test_a_failing_server_does_not_raise():
    console = FakeConsole()

    def broken():
        raise MemoryError("no heap")

    service = LinkService(console, broken)
    console.incoming.append(b"#")
    service.serve()
    assert service.failures == 1 and service.server is None
