# The board's USB serial console (sys.stdin/sys.stdout) as a non-blocking byte stream.
#
# The console also carries print output and the REPL. Ctrl-C never reaches read(): the
# board's USB stack (or the pty's ISIG on the simulated board) turns it into
# KeyboardInterrupt first, which is what lets mpremote stop the app.
import select
import sys


class StdioConsole:
    """read() -> the bytes waiting now (at most limit), never blocking; write(data)."""

    name = "console"  # the port the link is on (INFO's link_port)

    def __init__(self, stdin=None, stdout=None):
        stdin = stdin or sys.stdin
        stdout = stdout or sys.stdout
        self._in = getattr(stdin, "buffer", stdin)
        self._out = getattr(stdout, "buffer", stdout)
        self._poll = select.poll()
        self._poll.register(stdin, select.POLLIN)
        # One byte per read: on the unix port FileIO.read(n) waits for all n bytes, and the
        # console's VMIN must stay as the REPL expects it. One buffer, no allocation per byte.
        self._byte = bytearray(1)

    def read(self, limit=256):
        out = bytearray()
        poll = self._poll
        while len(out) < limit:
            ready = poll.poll(0)
            if not ready or not ready[0][1] & select.POLLIN:
                break
            n = self._in.readinto(self._byte)
            if not n:
                break
            out.append(self._byte[0])
        return out

    def write(self, data):
        view = memoryview(data)
        while len(view):
            n = self._out.write(view)
            if n is None:  # the OS said "try again": nothing was written, so wait and retry
                n = 0
                select.poll().poll(1)
            view = view[n:]
