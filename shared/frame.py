# Frame codec of the host link: versioned, CRC-checked, bounded messages on the console line.
#
# A frame is one line: b"#NM" + base64(payload) + b"\n". Base64 is printable ASCII, so a
# frame never holds 0x03 (Ctrl-C, KeyboardInterrupt on the board) nor any other REPL control
# character, and the console can carry print output and the REPL between frames.
#
# payload = version u8 | request id u16 LE | code u8 | body | CRC-32 LE of all before it
# code: a command (1..0x7F) in a request, 0x80 | status in a response.
# docs/link-protocol.md describes the commands; tests/dual/test_frame.py checks both runtimes.
import struct
from binascii import a2b_base64, b2a_base64

from micropython import const

from shared.crc import crc32

VERSION = const(1)
MARKER = b"#NM"
HEADER_SIZE = const(4)  # version, request id, code
CRC_SIZE = const(4)
MAX_PAYLOAD = const(1024)  # header + body + CRC; bounds every buffer on both sides
MAX_BODY = const(1016)
MAX_LINE = const(1368)  # base64 of MAX_PAYLOAD bytes, without the marker and newline
RESPONSE = const(0x80)

# Reasons a decoder reports for what it dropped.
E_OVERSIZED = "oversized"
E_TRUNCATED = "truncated"
E_GARBAGE = "garbage"
E_BASE64 = "base64"
E_SHORT = "short"
E_CRC = "crc"
E_VERSION = "version"

_HUNT = const(0)
_BODY = const(1)


def _alphabet():
    table = bytearray(256)
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=":
        table[c] = 1
    return table


_BASE64 = _alphabet()  # 1 for each byte base64 may hold; a lookup allocates nothing


class FrameError(ValueError):
    pass


class Frame:
    """One decoded frame: request id, code and body (bytes)."""

    def __init__(self, rid, code, body=b"", version=VERSION):
        self.rid = rid
        self.code = code
        self.body = body
        self.version = version

    @property
    def is_response(self):
        return self.code >= RESPONSE

    def __eq__(self, other):
        return isinstance(other, Frame) and (self.rid, self.code, self.body, self.version) == (
            other.rid,
            other.code,
            other.body,
            other.version,
        )

    def __repr__(self):
        return "Frame(rid=%d, code=0x%02x, body=%r)" % (self.rid, self.code, self.body)


class Dropped:
    """What the decoder threw away and why; rid and code are known only when the CRC was good
    (a frame of another protocol version), else None."""

    def __init__(self, reason, size, rid=None, code=None, version=None):
        self.reason = reason
        self.size = size
        self.rid = rid
        self.code = code
        self.version = version

    def __repr__(self):
        return "Dropped(%s, %d bytes)" % (self.reason, self.size)


def payload(rid, code, body=b""):
    """The raw payload (header, body, CRC) of one frame; FrameError when it would not fit."""
    if not 0 <= rid <= 0xFFFF or not 0 <= code <= 0xFF:
        raise FrameError("request id %r or code %r out of range" % (rid, code))
    if len(body) > MAX_BODY:
        raise FrameError("frame body of %d bytes exceeds %d" % (len(body), MAX_BODY))
    head = struct.pack("<BHB", VERSION, rid, code)
    crc = crc32(body, crc32(head))
    return head + bytes(body) + struct.pack("<I", crc)


def wrap(raw):
    """Frame a finished payload (header + body + CRC) as a console line."""
    return MARKER + b2a_base64(raw)[:-1] + b"\n"


def encode(rid, code, body=b""):
    return wrap(payload(rid, code, body))


def parse(raw):
    """A Frame from a payload, or a Dropped saying why not."""
    n = len(raw)
    if n < HEADER_SIZE + CRC_SIZE:
        return Dropped(E_SHORT, n)
    (stored,) = struct.unpack("<I", raw[n - CRC_SIZE :])
    if crc32(raw[: n - CRC_SIZE]) != stored:
        return Dropped(E_CRC, n)
    version, rid, code = struct.unpack("<BHB", raw[:HEADER_SIZE])
    if version != VERSION:
        return Dropped(E_VERSION, n, rid, code, version)
    return Frame(rid, code, bytes(raw[HEADER_SIZE : n - CRC_SIZE]), version)


class Decoder:
    """Sans-IO: feed(bytes) -> list of Frame and Dropped, in order. Console text between
    frames is skipped silently; a frame cut short, garbled, too long or with a bad CRC is
    reported as Dropped and the decoder hunts for the next marker, so it never loses sync.

    Its line buffer is allocated once (MAX_LINE bytes): the board's heap stays unfragmented.
    """

    def __init__(self, max_line=MAX_LINE):
        self._buf = bytearray(max_line)
        self._view = memoryview(self._buf)
        self._max = max_line
        self._len = 0
        self._state = _HUNT
        self._match = 0  # how much of MARKER the last bytes matched
        self._overflow = False

    def feed(self, data):
        out = []
        for byte in data:
            if self._state == _HUNT:
                self._hunt(byte)
                continue
            if byte == 0x0A or byte == 0x0D:  # \n ends a frame; so does \r (a \r\n line end)
                out.append(self._finish())
            elif byte == 0x23:  # "#": a new marker inside a frame; the frame was cut short
                out.append(Dropped(E_TRUNCATED, self._len))
                self._state = _HUNT
                self._match = 1
            elif not _BASE64[byte]:
                out.append(Dropped(E_GARBAGE, self._len + 1))
                self._state = _HUNT
                self._match = 0
            elif self._len >= self._max:
                # Keep counting but stop storing: report it once the line ends.
                self._overflow = True
                self._len += 1
            else:
                self._buf[self._len] = byte
                self._len += 1
        return out

    def _hunt(self, byte):
        if byte == MARKER[self._match]:
            self._match += 1
            if self._match == len(MARKER):
                self._state = _BODY
                self._len = 0
                self._overflow = False
                self._match = 0
        else:
            self._match = 1 if byte == MARKER[0] else 0

    def _finish(self):
        self._state = _HUNT
        self._match = 0
        n = self._len
        if self._overflow:
            return Dropped(E_OVERSIZED, n)
        try:
            raw = a2b_base64(self._view[:n])
        except ValueError:  # binascii.Error is a ValueError on CPython
            return Dropped(E_BASE64, n)
        return parse(raw)
