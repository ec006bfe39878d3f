# A bounded error log on flash: a ring of fixed 128-byte entries in one file.
#
# Each entry carries its own CRC-32 and a running entry number, so a power cut that tears
# the entry being written costs only that entry (and the oldest one it was overwriting):
# open() and entries() skip any slot whose CRC fails. The same code repeating faster than
# holdoff_ms is counted in RAM and written once per holdoff with the count it stood for,
# so a meter that stops answering cannot wear the flash out one timeout at a time.
import struct

from micropython import const

from shared.crc import crc32

ENTRY_SIZE = const(128)
# entry number (1, 2, ...; 0 is never written), t_ms, suppressed repeats before this one,
# time base (UTC or BOOT), code, detail; the CRC-32 of these 124 bytes follows. Entries of
# 64 bytes with a 32-byte detail (older firmware) fail this CRC: docs/storage.md.
_ENTRY = "<IQHB14s95s"
_BODY = const(124)
CODE_MAX = const(14)
DETAIL_MAX = const(95)  # room for a whole message: "seq 0: link does not follow seq -1 ..."
# What an entry's t_ms counts from: UTC (Unix ms) once the clock was set since boot, else
# the board's clock before it was set (ms since boot, or the RTC's unconfirmed time).
UTC = const(0x55)  # "U"
BOOT = const(0x42)  # "B"

# Codes: short ASCII strings, stored as they are.
MB_ILLEGAL_FUNCTION = "mb01_bad_func"
MB_ILLEGAL_ADDRESS = "mb02_bad_addr"  # illegal data address
MB_ILLEGAL_VALUE = "mb03_bad_value"  # illegal data value
MB_DEVICE_FAILURE = "mb04_dev_fail"
MB_BUSY = "mb06_busy"
MB_GATEWAY_PATH = "mb0a_gw_path"  # gateway path unavailable
MB_GATEWAY_NO_REPLY = "mb0b_gw_silent"  # gateway target failed to respond
TIMEOUT = "timeout"  # no Modbus reply in time
CRC = "crc"  # a Modbus reply with a bad CRC-16
PULSES_REJECTED = "pulses_reject"  # the debounce filter rejected S0 edges
CONFIG_REJECTED = "config_reject"  # a configuration failed validation (upload or boot)
CRASHED = "main_loop"  # an exception stopped the main loop: the board went to safe mode
RECORDS_DROPPED = "rec_dropped"  # the store was full and dropped unacknowledged records
LINK_FAILED = "link_failed"  # the host link could not serve what came in (no reply went)
CHAIN = "chain"  # the record store's chain check found a problem
TORN_RECORD = "torn_record"  # open() discarded a record torn by a power cut

_MODBUS = {
    0x01: MB_ILLEGAL_FUNCTION,
    0x02: MB_ILLEGAL_ADDRESS,
    0x03: MB_ILLEGAL_VALUE,
    0x04: MB_DEVICE_FAILURE,
    0x06: MB_BUSY,
    0x0A: MB_GATEWAY_PATH,
    0x0B: MB_GATEWAY_NO_REPLY,
}


def modbus_code(exception_code):
    """The log code of a Modbus exception reply: mb02_bad_addr, ..., or mbXX for others."""
    return _MODBUS.get(exception_code) or "mb%02x" % exception_code


def _text(raw):
    raw = bytes(raw)
    end = raw.find(b"\x00")
    if end >= 0:
        raw = raw[:end]
    try:
        return raw.decode()
    except UnicodeError:
        return "".join("\\x%02x" % b for b in raw)


class ErrorLog:
    """log(t_ms, code, detail); entries() oldest first as (t_ms, code, detail, repeats,
    base): base "utc" or "boot" says what t_ms counts from (clock.is_set when logged; with
    no clock, "utc")."""

    def __init__(self, path, capacity=64, holdoff_ms=60000, clock=None):
        if capacity < 2:
            raise ValueError("capacity=%d: an error log needs at least 2 entries" % capacity)
        self.path = path
        self.capacity = capacity
        self.holdoff_ms = holdoff_ms
        self.clock = clock
        self._buf = bytearray(ENTRY_SIZE)
        self._recent = {}  # code -> [t_ms of its last written entry, repeats held back]
        self._number = self._last_number()

    def _slots(self):
        """(entry number, slot) of every whole entry in the file."""
        found = []
        buf = self._buf
        try:
            f = open(self.path, "rb")
        except OSError:
            return found
        with f:
            slot = 0
            while slot < self.capacity and f.readinto(buf) == ENTRY_SIZE:
                (stored,) = struct.unpack_from("<I", buf, _BODY)
                if stored == crc32(memoryview(buf)[:_BODY]):
                    number = struct.unpack_from("<I", buf, 0)[0]
                    if number:
                        found.append((number, slot))
                slot += 1
        return found

    def _last_number(self):
        best = 0
        for number, _ in self._slots():
            if number > best:
                best = number
        return best

    def log(self, t_ms, code, detail=""):
        """Persist one event; returns False when it was only counted (same code within
        holdoff_ms of its last written entry: the next written one carries the count)."""
        recent = self._recent.get(code)
        if recent is not None and self.holdoff_ms and t_ms - recent[0] < self.holdoff_ms:
            recent[1] += 1
            return False
        repeats = 0 if recent is None else recent[1]
        if repeats > 0xFFFF:
            repeats = 0xFFFF
        code_b = code.encode()[:CODE_MAX]
        detail_b = str(detail).encode()[:DETAIL_MAX]
        number = self._number + 1
        buf = self._buf
        base = BOOT if self.clock is not None and not self.clock.is_set else UTC
        struct.pack_into(_ENTRY, buf, 0, number, t_ms, repeats, base, code_b, detail_b)
        struct.pack_into("<I", buf, _BODY, crc32(memoryview(buf)[:_BODY]))
        offset = ((number - 1) % self.capacity) * ENTRY_SIZE
        try:
            f = open(self.path, "r+b")
        except OSError:
            f = open(self.path, "wb")
        with f:
            size = f.seek(0, 2)
            if size < offset:
                # A torn file shorter than this slot: pad to it so the slot lands in place.
                f.write(bytes(offset - size))
            f.seek(offset)
            f.write(buf)  # one write call per entry
        self._number = number
        self._recent[code] = [t_ms, 0]
        return True

    def entries(self):
        """Every whole entry, oldest first: (t_ms, code, detail, repeats held back before,
        "utc" or "boot")."""
        slots = self._slots()
        slots.sort()
        out = []
        if not slots:
            return out
        buf = self._buf
        with open(self.path, "rb") as f:
            for _, slot in slots:
                f.seek(slot * ENTRY_SIZE)
                f.readinto(buf)
                _, t_ms, repeats, base, code, detail = struct.unpack_from(_ENTRY, buf, 0)
                base = "utc" if base == UTC else "boot" if base == BOOT else "?"
                out.append((t_ms, _text(code), _text(detail), repeats, base))
        return out
