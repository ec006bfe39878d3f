"""Switchable reply faults of the simulated meter's Modbus line, each one clearable."""

import threading

from pymodbus.constants import ExcCodes

CORRUPT_CRC = "corrupt_crc"
NO_REPLY = "no_reply"
STALE_REPLY = "stale_reply"
EXCEPTION = "exception"
WRONG_UNIT = "wrong_unit"
TRUNCATE = "truncate"
GARBAGE = "garbage"
PACED = "paced"


class ReplyFaults:
    """What goes wrong with the next replies. Each knob stays on until `clear()`, or for
    `count` replies when a count is given. Several knobs may be on at once; a reply that is
    dropped or held (no_reply, stale_reply) takes no other fault.

    - corrupt_crc(bit=0): flip bit `bit` (0 = LSB of the first data byte after the unit id
      and function) in the reply, so its CRC no longer matches.
    - no_reply(): the meter stays silent.
    - stale_reply(delay_ms=None): the reply is held back and delivered late: when the next
      request arrives (default), or delay_ms after it was due. A client that timed out
      then finds the old reply while it waits for the new one.
    - exception(code): the server answers exception `code` (0x02, 0x03, 0x04, 0x06, 0x0B
      or any other Modbus exception code) instead of data.
    - wrong_unit(unit_id=None): the reply carries another unit id (default: ours + 1),
      with a valid CRC for it.
    - truncate(keep=None): only the first `keep` bytes are sent (default: half the frame).
    - garbage(data=b"\\x00\\xff\\x55"): these bytes go out just before the reply.
    - paced(): the reply goes out a byte at a time, one character (11 bits) apart at the
      line's baud, as a real UART hands it to a main loop, instead of in one write.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._active = {}  # name -> [remaining or None, params]

    def _set(self, name, count, **params):
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None: until cleared)")
        with self._lock:
            self._active[name] = [count, params]

    def corrupt_crc(self, count=None, bit=0):
        self._set(CORRUPT_CRC, count, bit=bit)

    def no_reply(self, count=None):
        self._set(NO_REPLY, count)

    def stale_reply(self, count=None, delay_ms=None):
        self._set(STALE_REPLY, count, delay_ms=delay_ms)

    def exception(self, code, count=None):
        self._set(EXCEPTION, count, code=ExcCodes(code))

    def wrong_unit(self, count=None, unit_id=None):
        self._set(WRONG_UNIT, count, unit_id=unit_id)

    def truncate(self, count=None, keep=None):
        self._set(TRUNCATE, count, keep=keep)

    def garbage(self, count=None, data=b"\x00\xff\x55"):
        self._set(GARBAGE, count, data=bytes(data))

    def paced(self, count=None):
        self._set(PACED, count)

    def clear(self, name=None):
        """Switch off one knob by name, or all of them."""
        with self._lock:
            if name is None:
                self._active.clear()
            else:
                self._active.pop(name, None)

    def active(self):
        with self._lock:
            return sorted(self._active)

    def take(self, name):
        """The knob's parameters if it is on (using up one of its count), else None."""
        with self._lock:
            entry = self._active.get(name)
            if entry is None:
                return None
            remaining, params = entry
            if remaining is not None:
                if remaining <= 1:
                    del self._active[name]
                else:
                    entry[0] = remaining - 1
            return params
