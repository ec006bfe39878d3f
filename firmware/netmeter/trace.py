# The last Modbus frames on the meter's line, whole, for TRACE: an installer's scope.
#
# The main loop reads the UART when it passes, so one reply arrives as many pieces (at 9600
# baud a byte or a few per pass). The trace joins them back into the frame the line carried,
# by the RTU rule the master uses (netmeter.rtu.silence_us): received bytes belong to one
# entry until the loop has seen the line silent for 3.5 characters (a read that found
# nothing that long after the last byte), or until we transmit. Each request, each reply
# and each run of garbage between them is one entry with the time it started. A loop slower
# than 3.5 characters per pass cannot see a pause inside a frame, so it never splits one;
# it may join garbage to the reply right after it, as the master then reads it too.
#
# Memory: one bytearray ring preallocated at boot (the app's: 512 B, what one TRACE reply
# can show, netmeter.app), entries laid end to end in it, and their index in arrays of
# 16-bit numbers; the oldest entries give way to new bytes. An entry holds at most one RTU
# ADU (256 bytes): a longer run (noise without a pause) continues in the next entry.
from array import array
from binascii import hexlify

from netmeter.rtu import silence_us, transmit_us

MAX_ENTRY = 256  # the largest Modbus RTU ADU


class FrameTrace:
    """add(t_us, "tx" | "rx", data) for every write and every read, an empty read too (it is
    how the trace sees silence); entries() oldest first as
    (start_us, direction, hex). Times are the caller's monotonic microseconds (the app's:
    since boot). A tx entry starts when it is written; an rx entry when its first byte
    began on the wire, estimated as its read time less the time the piece read took to
    arrive at the line's baud (but not before the read before it)."""

    def __init__(self, baud, frames=16, nbytes=1024):
        if nbytes < MAX_ENTRY:
            raise ValueError("nbytes=%d: must hold one %d-byte frame" % (nbytes, MAX_ENTRY))
        self.baud = baud
        self.silence_us = silence_us(baud)
        self.buf = bytearray(nbytes)
        self.starts = array("H", bytes(2 * frames))  # each entry's offset in buf
        self.lengths = array("H", bytes(2 * frames))
        self.times = [0] * frames
        self.transmitted = bytearray(frames)  # 1: a tx entry, 0: rx
        self.oldest = 0  # slot of the oldest entry
        self.count = 0
        self.used = 0  # bytes held by the entries
        self.rx_open = False  # the newest entry is rx and may still grow
        self.rx_last_us = 0  # when the last bytes were read
        self.read_us = None  # when the last read was, found it bytes or not

    def add(self, t_us, direction, data):
        n = len(data) if data else 0
        if direction != "rx":
            self.rx_open = False
            if n:
                self._append(t_us, direction, data, 0, n)
            return
        since, self.read_us = self.read_us, t_us
        if not n:
            if t_us - self.rx_last_us >= self.silence_us:
                self.rx_open = False  # the line was silent 3.5 characters: the frame ended
            return
        done = self._grow(data, 0, n) if self.rx_open else 0
        self.rx_last_us = t_us
        while done < n:
            # Started the time the rest took to arrive before it was read, at the latest,
            # and after the read before, which found it not yet there.
            start_us = t_us - transmit_us(n - done, self.baud)
            if since is not None and start_us < since:
                start_us = since
            piece = min(n - done, MAX_ENTRY)
            self._append(start_us, "rx", data, done, piece)
            done += piece
        self.rx_open = self.lengths[self._newest()] < MAX_ENTRY

    def entries(self):
        out = []
        size = len(self.buf)
        for i in range(self.count):
            slot = (self.oldest + i) % len(self.starts)
            start, length = self.starts[slot], self.lengths[slot]
            end = start + length
            if end <= size:
                data = self.buf[start:end]
            else:
                data = self.buf[start:] + self.buf[: end - size]
            direction = "tx" if self.transmitted[slot] else "rx"
            out.append((self.times[slot], direction, hexlify(data).decode()))
        return out

    def _newest(self):
        return (self.oldest + self.count - 1) % len(self.starts)

    def _append(self, t_us, direction, data, offset, n):
        """A new entry of data[offset:offset + n] (n <= MAX_ENTRY)."""
        slots = len(self.starts)
        if self.count == slots:
            self._drop_oldest()
        if self.count:
            last = self._newest()
            start = (self.starts[last] + self.lengths[last]) % len(self.buf)
        else:
            start = 0
        slot = (self.oldest + self.count) % slots
        self.count += 1
        self.starts[slot] = start
        self.lengths[slot] = 0
        self.times[slot] = t_us
        self.transmitted[slot] = direction != "rx"
        self._grow(data, offset, offset + n)

    def _grow(self, data, offset, end):
        """Append data[offset:end] to the newest entry, up to MAX_ENTRY; returns where it
        stopped. Makes room by dropping the oldest entries."""
        slot = self._newest()
        n = min(end - offset, MAX_ENTRY - self.lengths[slot])
        while self.used + n > len(self.buf):
            self._drop_oldest()
        size = len(self.buf)
        at = (self.starts[slot] + self.lengths[slot]) % size
        first = min(n, size - at)
        view = memoryview(data)
        self.buf[at : at + first] = view[offset : offset + first]
        if first < n:
            self.buf[0 : n - first] = view[offset + first : offset + n]
        self.lengths[slot] += n
        self.used += n
        return offset + n

    def _drop_oldest(self):
        self.used -= self.lengths[self.oldest]
        self.oldest = (self.oldest + 1) % len(self.starts)
        self.count -= 1
