# The link service in the main loop: the server is built on the first frame marker and
# dropped, with its modules, after a quiet spell; a new frame builds it again.
import sys

from netmeter.heap import LINK_SERVER_MODULES
from netmeter.linkservice import LinkService


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

    def receive(self, data, write):
        self.stats["frames"] += 1
        write(b"ok:" + data)


def test_server_built_on_marker_dropped_when_idle_and_built_again():
    saved = {
        name: sys.modules[name] for name in LINK_SERVER_MODULES.split() if name in sys.modules
    }
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
    for name in LINK_SERVER_MODULES.split():
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

    logged = []
    service = LinkService(console, broken, log=logged.append)
    console.incoming.append(b"#")
    service.serve()
    assert service.failures == 1 and service.server is None
    assert logged == ["MemoryError: no heap"]  # for the error log: the host can see it


class Writes:
    """A console that keeps each write apart."""

    def __init__(self, data):
        self.data = data
        self.writes = []

    def read(self, n):
        data, self.data = self.data, None
        return data

    def write(self, data):
        self.writes.append(bytes(data))


def _fragment_heap(hole):
    """Fill the MicroPython heap, then free every other block of `hole` bytes: no free block
    is much bigger than that afterwards. Returns what must stay alive."""
    import gc

    gc.collect()
    kept = []
    for size in (hole, 256, 16):  # the big blocks, then plug the gaps between them
        try:
            while True:
                kept.append(bytearray(size))
        except MemoryError:
            pass
    for i in range(0, len(kept), 2):
        if len(kept[i]) == hole:
            kept[i] = None
    gc.collect()
    return kept


def test_pipelined_pages_are_written_one_by_one_in_a_fragmented_heap():
    # Four PULL pages in one console read (the host's pipeline): each reply is written as
    # soon as it is made. Joined, they needed one 5.4 KB block; in a board's fragmented
    # heap that raised MemoryError and the host lost all four replies (a 2 s retry).
    from test_link_server import FakeDevice

    from dualtest import RUNTIME
    from netmeter.link import LinkServer
    from shared import linkproto as lp
    from shared.frame import MARKER, MAX_LINE, Decoder, encode

    device = FakeDevice(60)
    requests = b"".join(encode(10 + i, lp.PULL, lp.pull_args(13 * i, 13)) for i in range(4))
    console = Writes(b"#")
    service = LinkService(console, lambda: LinkServer(device))
    service.serve()  # builds the server and its buffers before the heap is cut up
    console.data = requests
    kept = _fragment_heap(2048) if RUNTIME == "micropython" else None
    service.serve()
    kept = None  # noqa: F841 - the heap back for the checks
    assert service.failures == 0
    assert len(console.writes) == 4
    for i, written in enumerate(console.writes):
        assert len(written) <= len(MARKER) + MAX_LINE + 1  # one frame per write
        (frame,) = Decoder().feed(written)
        first, next_seq, recs = lp.parse_pull(frame.body)
        assert frame.rid == 10 + i and len(recs) == 13 and recs[0] == device.recs[13 * i].encode()
