# RS-485 of the simulated board: a pseudo-terminal opened by path, polled without blocking.
import select
import sys

try:
    import termios
except ImportError:  # only to let the module import where termios is missing
    termios = None

# At most this many bytes per read(): a Modbus ADU is at most 256 bytes.
_MAX_READ = 256


class PtyRs485:
    """write(data)/read() on /dev/pts/N, with the `baud` of the configured line.

    In the MicroPython unix port FileIO.read(n) blocks until n bytes arrive. With the
    terminal's VMIN and VTIME at 0 a read returns what is there at once, so read() takes
    everything waiting in one call; where those cannot be set it takes one byte at a time
    while poll says the pty is readable. The pty is set raw (no echo, no CR/LF translation)
    as a real UART would be.
    """

    def __init__(self, path, baud=9600):
        self.baud = baud
        self.path = path
        self._file = open(path, "r+b", 0)
        self._chunk = 1
        if termios is not None and set_raw(self._file):
            self._chunk = _MAX_READ
        # One buffer for every read: a fresh 256-byte block each poll fragments a small heap.
        self._buf = bytearray(self._chunk)
        self._view = memoryview(self._buf)
        self._poll = select.poll()
        self._poll.register(self._file, select.POLLIN)

    def write(self, data):
        view = memoryview(data)
        while len(view):
            n = self._file.write(view)
            if n is None:
                n = 0
            view = view[n:]
        # No flush(): the file is unbuffered, and MicroPython's FileIO.flush() is fsync(),
        # which a pty refuses with EINVAL.

    def read(self):
        out = b""
        while len(out) < _MAX_READ:
            ready = self._poll.poll(0)
            if not ready or not ready[0][1] & select.POLLIN:
                break
            n = self._file.readinto(self._view[: min(self._chunk, _MAX_READ - len(out))])
            if not n:
                break
            out += bytes(self._view[:n])
        return out

    def close(self):
        self._poll.unregister(self._file)
        self._file.close()


def set_raw(f):
    """Raw mode; True when reads also return at once with what is waiting (VMIN = VTIME = 0)."""
    # Not termios.setraw: the unix port's version flushes input that is already waiting.
    fd = f.fileno()
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag
    attrs[1] = 0  # oflag
    attrs[3] = 0  # lflag: no echo, no canonical mode, no signals
    # The unix port's termios names neither VMIN nor VTIME; these are Linux's indices.
    vmin = getattr(termios, "VMIN", 6 if sys.platform == "linux" else None)
    vtime = getattr(termios, "VTIME", 5 if sys.platform == "linux" else None)
    nonblocking = vmin is not None and vtime is not None
    if nonblocking:
        attrs[6][vmin] = 0
        attrs[6][vtime] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return nonblocking
