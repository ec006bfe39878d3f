# RS-485 of the simulated board: a pseudo-terminal opened by path, polled without blocking.
import select

try:
    import termios
except ImportError:  # only to let the module import where termios is missing
    termios = None

# At most this many bytes per read(): a Modbus ADU is at most 256 bytes.
_MAX_READ = 512


class PtyRs485:
    """write(data)/read() on /dev/pts/N, with the `baud` of the configured line.

    In the MicroPython unix port FileIO.read(n) blocks until n bytes arrive, so read()
    takes one byte at a time while poll says the pty is readable. The pty is set raw
    (no echo, no CR/LF translation) as a real UART would be.
    """

    def __init__(self, path, baud=9600):
        self.baud = baud
        self.path = path
        self._file = open(path, "r+b", 0)
        if termios is not None:
            set_raw(self._file)
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
        out = bytearray()
        while len(out) < _MAX_READ:
            ready = self._poll.poll(0)
            if not ready or not ready[0][1] & select.POLLIN:
                break
            byte = self._file.read(1)
            if not byte:
                break
            out += byte
        return bytes(out)

    def close(self):
        self._poll.unregister(self._file)
        self._file.close()


def set_raw(f):
    # Not termios.setraw: the unix port's version flushes input that is already waiting.
    fd = f.fileno()
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag
    attrs[1] = 0  # oflag
    attrs[3] = 0  # lflag: no echo, no canonical mode, no signals
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
