"""Two raw pseudo-terminals joined by an RTU frame relay that can fault the replies."""

import os
import tty
from dataclasses import dataclass

from host.sim.faults import (
    CORRUPT_CRC,
    GARBAGE,
    NO_REPLY,
    PACED,
    STALE_REPLY,
    TRUNCATE,
    WRONG_UNIT,
)
from shared.crc import crc16_modbus

# A frame whose length the relay cannot tell from its header ends after this much silence.
# Ptys deliver a frame in one or two reads, so the gap only matters for odd frames.
FRAME_GAP_S = 0.02


@dataclass
class Pty:
    master: int
    slave: int
    path: str


def open_raw_pty():
    """A pty whose slave is raw (no echo, no CR/LF translation), so bytes pass unchanged.

    The slave stays open here as well: otherwise the master reports EIO whenever no client
    has the device open, e.g. between a firmware's close and reopen.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return Pty(master, slave, os.ttyname(slave))


def open_serial_port(path, baudrate):
    """A real serial port (a USB RS-485 adapter's /dev/ttyUSB0) in the shape of a Pty: raw,
    8N1 at baudrate, non-blocking; the relay reads and writes it as it does a pty master."""
    import termios

    speed = getattr(termios, "B%d" % baudrate, None)
    if speed is None:
        raise ValueError("baud rate %r is not one the serial port can be set to" % baudrate)
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[2] = (attrs[2] & ~(termios.PARENB | termios.CSTOPB | termios.CSIZE)) | (
            termios.CS8 | termios.CLOCAL | termios.CREAD
        )
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        termios.tcflush(fd, termios.TCIOFLUSH)
    except Exception:
        os.close(fd)
        raise
    return Pty(fd, None, path)


def request_length(buf):
    """Bytes in the RTU request starting buf; None: not known yet; -1: unknown function."""
    if len(buf) < 2:
        return None
    function = buf[1]
    if function in (1, 2, 3, 4, 5, 6):
        return 8
    if function in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return -1


def reply_length(buf):
    """Bytes in the RTU reply starting buf; None: not known yet; -1: unknown function."""
    if len(buf) < 2:
        return None
    function = buf[1]
    if function & 0x80:
        return 5
    if function in (1, 2, 3, 4):
        return 5 + buf[2] if len(buf) >= 3 else None
    if function in (5, 6, 15, 16):
        return 8
    return -1


def with_crc(body):
    crc = crc16_modbus(body)
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


class _Framer:
    """Cuts a byte stream into frames by length, or by silence when the length is unknown."""

    def __init__(self, loop, length_of, on_frame):
        self.loop = loop
        self.length_of = length_of
        self.on_frame = on_frame
        self.buffer = bytearray()
        self._timer = None

    def feed(self, data):
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self.buffer += data
        while self.buffer:
            length = self.length_of(self.buffer)
            if length is None or length < 0 or len(self.buffer) < length:
                self._timer = self.loop.call_later(FRAME_GAP_S, self.flush)
                return
            frame = bytes(self.buffer[:length])
            del self.buffer[:length]
            self.on_frame(frame)

    def flush(self):
        self._timer = None
        if self.buffer:
            frame = bytes(self.buffer)
            self.buffer.clear()
            self.on_frame(frame)

    def cancel(self):
        if self._timer:
            self._timer.cancel()
            self._timer = None


class RtuRelay:
    """Moves RTU frames between the client pty and the server pty on an asyncio loop.

    Requests to another unit id are dropped, as on an RS-485 line where that unit is absent
    (pymodbus's SimDevice would answer them with exception 04), and so are requests with a
    bad CRC or cut short by silence, as a meter drops them. Replies pass through the reply
    faults (see ReplyFaults). `frames` keeps the last frames seen, for diagnosis.
    """

    def __init__(self, faults, unit_id, port=None, baudrate=9600):
        self.faults = faults
        self.unit_id = unit_id
        self.baudrate = baudrate
        # The board's side: a pty for the simulated board, or a real serial port.
        self.client_side = open_raw_pty() if port is None else open_serial_port(port, baudrate)
        self.server_side = open_raw_pty()
        self.frames = []
        self._held = []
        self._loop = None
        self._requests = self._replies = None

    @property
    def client_path(self):
        return self.client_side.path

    @property
    def server_path(self):
        return self.server_side.path

    def attach(self, loop):
        self._loop = loop
        self._requests = _Framer(loop, request_length, self._on_request)
        self._replies = _Framer(loop, reply_length, self._on_reply)
        loop.add_reader(self.client_side.master, self._read, self.client_side, self._requests)
        loop.add_reader(self.server_side.master, self._read, self.server_side, self._replies)

    def detach(self):
        if self._loop is None:
            return
        self._loop.remove_reader(self.client_side.master)
        self._loop.remove_reader(self.server_side.master)
        self._requests.cancel()
        self._replies.cancel()
        self._loop = None

    def close(self):
        for pty in (self.client_side, self.server_side):
            for fd in (pty.master, pty.slave):
                if fd is None:
                    continue
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _read(self, pty, framer):
        try:
            data = os.read(pty.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while the other end is being reopened: nothing to read
        if data:
            framer.feed(data)

    def _remember(self, direction, frame):
        self.frames.append((direction, frame))
        del self.frames[:-50]

    def _write(self, pty, data):
        try:
            os.write(pty.master, data)
        except (BlockingIOError, OSError):
            pass  # nobody reads the other side: the bytes are lost, as on a dead line

    def _on_request(self, frame):
        self._remember("request", frame)
        while self._held:
            self._send_to_client(self._held.pop(0))
        if frame[:1] != bytes((self.unit_id,)):
            return
        if len(frame) < 4 or with_crc(frame[:-2]) != frame:
            # A meter discards a broken frame at the next silence. pymodbus's lenient framer
            # would keep it and glue it to the next request, so it never gets it.
            self._remember("discarded", frame)
            return
        self._write(self.server_side, frame)

    def _send_to_client(self, frame):
        self._remember("reply", frame)
        self._write(self.client_side, frame)

    def _on_reply(self, frame):
        faults = self.faults
        if faults.take(NO_REPLY) is not None:
            self._remember("dropped", frame)
            return
        stale = faults.take(STALE_REPLY)
        if stale is not None:
            if stale["delay_ms"] is None:
                self._held.append(frame)
            else:
                self._loop.call_later(stale["delay_ms"] / 1000.0, self._send_to_client, frame)
            return
        wrong = faults.take(WRONG_UNIT)
        if wrong is not None and len(frame) > 2:
            unit = wrong["unit_id"] if wrong["unit_id"] is not None else (frame[0] + 1) % 256
            frame = with_crc(bytes((unit,)) + frame[1:-2])
        corrupt = faults.take(CORRUPT_CRC)
        if corrupt is not None and len(frame) > 2:
            data = bytearray(frame)
            bit = corrupt["bit"]
            index = min(2 + bit // 8, len(data) - 3)
            data[index] ^= 1 << (bit % 8)
            frame = bytes(data)
        truncate = faults.take(TRUNCATE)
        if truncate is not None:
            keep = truncate["keep"] if truncate["keep"] is not None else len(frame) // 2
            frame = frame[:keep]
        garbage = faults.take(GARBAGE)
        if garbage is not None:
            frame = garbage["data"] + frame
        if faults.take(PACED) is not None:
            self._send_paced(frame)
        else:
            self._send_to_client(frame)

    def _send_paced(self, frame):
        """Byte i at i character times from now (absolute times: a late byte does not
        delay the rest, so the line only pauses where the loop stalled)."""
        self._remember("reply", frame)
        char_s = 11.0 / self.baudrate
        start = self._loop.time()
        for i in range(len(frame)):
            self._loop.call_at(start + i * char_s, self._write, self.client_side, frame[i : i + 1])
