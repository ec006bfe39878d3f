# Sans-IO Modbus RTU master: request frames out, received bytes in, replies or failures as events.
#
# The caller owns the UART and the clock. Its loop: feed every byte the UART holds with
# receive(data, now_us), then call poll(now_us) and act on the event: Send (write its frame
# to the bus), Reply or Failure (the request is over), or None (nothing to do yet).
# Times are integer microseconds from a monotonic (unwrapped) clock.
#
# Framing rules (one place: _TRANSITIONS for the states, poll/_parse for the bytes):
# - A new request goes out only after the bus has been silent for 3.5 character times
#   (11 bits per character; fixed 1.75 ms above 19200 baud) since the last byte seen or sent.
# - Bytes received while no reply is awaited are discarded (a late reply, noise).
# - While awaiting a reply, bytes that cannot start the expected reply (other unit id, other
#   function, wrong byte count, failed CRC) are skipped one at a time, so garbage before a
#   frame is resynchronised without waiting. A reply completes by its expected length:
#   5 + 2 * count for 03/04, 8 for 06/16, 5 for an exception reply.
# - After a reply-shaped frame failed its CRC, or a reply stopped part-way, the master waits
#   for silence and retries. A timeout retries too. An exception reply does not.
# Modbus RTU carries no transaction id: a late reply that starts after the next request was
# sent and has the same unit, function and byte count cannot be told apart. The silence rule
# makes it collide with our request on the bus instead, which the CRC then rejects.
import struct

from micropython import const

from shared.crc import crc16_modbus

READ_HOLDING = const(3)
READ_INPUT = const(4)
WRITE_SINGLE = const(6)
WRITE_MULTIPLE = const(16)
_EXCEPTION_BIT = const(0x80)
_MAX_BUFFER = const(512)

EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server busy",
    0x08: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target failed to respond",
}

# Master states and the only transitions allowed between them.
IDLE = "IDLE"  # no request: received bytes are discarded
READY = "READY"  # a request waits for the bus to be silent
AWAIT_REPLY = "AWAIT_REPLY"  # the request was sent; bytes are parsed as its reply
_TRANSITIONS = {
    (IDLE, "submit"): READY,
    (READY, "send"): AWAIT_REPLY,
    (AWAIT_REPLY, "reply"): IDLE,
    (AWAIT_REPLY, "fail"): IDLE,
    (AWAIT_REPLY, "retry"): READY,
    (IDLE, "cancel"): IDLE,
    (READY, "cancel"): IDLE,
    (AWAIT_REPLY, "cancel"): IDLE,
}


def silence_us(baud):
    """Minimum inter-frame silence: 3.5 characters of 11 bits, rounded up; 1750 us above 19200."""
    if baud > 19200:
        return 1750
    return -(-38500000 // baud)


def transmit_us(nbytes, baud):
    """Time the bus needs to carry nbytes characters of 11 bits, rounded up."""
    return -(-nbytes * 11000000 // baud)


def register_label(function, address):
    """Modicon number of a register for messages: 40015 is holding register 14."""
    if function == READ_INPUT:
        return 30001 + address if address <= 9998 else 300001 + address
    return 40001 + address if address <= 9998 else 400001 + address


class ProtocolError(Exception):
    """The caller used the master out of order (e.g. submit while a request is in flight)."""


class ModbusError(Exception):
    """A request failed; `request` is the request, `kind` a short name for counters."""

    kind = "error"

    def __init__(self, message, request=None):
        super().__init__(message)
        self.request = request


class ResponseTimeout(ModbusError):
    kind = "timeout"


class CrcError(ModbusError):
    kind = "crc"


class FrameError(ModbusError):
    kind = "frame"


class ExceptionReply(ModbusError):
    kind = "exception"

    def __init__(self, code, request):
        self.code = code
        self.name = EXCEPTION_NAMES.get(code, "unknown exception code")
        super().__init__("0x%02X %s (%s)" % (code, self.name, request.where()), request)


def _register_limit(function):
    """How many registers one request of function may move; ValueError for a function
    this master does not send."""
    if function in (READ_HOLDING, READ_INPUT):
        return 125
    if function == WRITE_SINGLE:
        return 1
    if function == WRITE_MULTIPLE:
        return 123
    raise ValueError("function %r: this master sends 03, 04, 06 and 16" % (function,))


class Request:
    """One request frame and what its reply must look like."""

    def __init__(self, unit, function, address, count=1, values=None):
        if not 1 <= unit <= 247:
            raise ValueError("unit id %r: must be 1..247 (0 is broadcast, not supported)" % unit)
        limit = _register_limit(function)
        if values is not None:
            count = len(values)
            for v in values:
                if not 0 <= v <= 0xFFFF:
                    raise ValueError("register value %r: must be 0..65535" % (v,))
        elif function in (WRITE_SINGLE, WRITE_MULTIPLE):
            raise ValueError("a write needs values")
        if not 1 <= count <= limit:
            raise ValueError(
                "count %r: function %02d moves 1..%d registers" % (count, function, limit)
            )
        if address < 0 or address + count > 0x10000:
            raise ValueError(
                "address %r + %d registers: must stay within 0..65535" % (address, count)
            )
        self.unit = unit
        self.function = function
        self.address = address
        self.count = count
        self.values = values
        pdu = self._pdu()
        crc = crc16_modbus(pdu)
        self.frame = pdu + bytes((crc & 0xFF, crc >> 8))

    def _pdu(self):
        """The frame without its CRC; sets reply_length, the bytes its reply must have."""
        function = self.function
        count = self.count
        if function in (READ_HOLDING, READ_INPUT):
            self.reply_length = 5 + 2 * count
            return struct.pack(">BBHH", self.unit, function, self.address, count)
        self.reply_length = 8
        if function == WRITE_SINGLE:
            return struct.pack(">BBHH", self.unit, function, self.address, self.values[0])
        pdu = struct.pack(">BBHHB", self.unit, function, self.address, count, 2 * count)
        return pdu + struct.pack(">%dH" % count, *self.values)

    def where(self):
        text = "register %d on unit %d" % (register_label(self.function, self.address), self.unit)
        if self.count > 1:
            text += ", %d registers" % self.count
        return text

    def __repr__(self):
        return "Request(fn %02d, %s)" % (self.function, self.where())


def read_request(unit, function, address, count):
    return Request(unit, function, address, count)


def write_single_request(unit, address, value):
    return Request(unit, WRITE_SINGLE, address, values=[value])


def write_multiple_request(unit, address, values):
    return Request(unit, WRITE_MULTIPLE, address, values=list(values))


class Send:
    """Write frame to the bus now."""

    def __init__(self, frame):
        self.frame = frame


class Reply:
    """The request succeeded; registers holds the words read (or written, for 06/16)."""

    def __init__(self, request, registers):
        self.request = request
        self.registers = registers


class Failure:
    """The request failed for good; error is a ModbusError."""

    def __init__(self, request, error):
        self.request = request
        self.error = error


class Counters:
    """Diagnostics since start-up."""

    def __init__(self):
        self.requests = 0
        self.sent = 0
        self.replies = 0
        self.retries = 0
        self.failures = 0
        self.timeouts = 0
        self.crc_errors = 0
        self.frame_errors = 0
        self.discarded_bytes = 0
        self.exceptions = {}  # exception code -> count

    def as_dict(self):
        d = {}
        for name in (
            "requests",
            "sent",
            "replies",
            "retries",
            "failures",
            "timeouts",
            "crc_errors",
            "frame_errors",
            "discarded_bytes",
        ):
            d[name] = getattr(self, name)
        d["exceptions"] = dict(self.exceptions)
        return d


class RtuMaster:
    def __init__(self, baud=9600, timeout_us=500000, retries=2):
        self.baud = baud
        self.silence_us = silence_us(baud)
        self.timeout_us = timeout_us
        self.retries = retries
        self.state = IDLE
        self.request = None
        self.attempts = 0
        self.counters = Counters()
        self._buf = b""
        self._last_activity_us = None  # last byte received or end of our last frame
        self._sent_end_us = 0
        self._crc_failed = False

    def _transition(self, event):
        new = _TRANSITIONS.get((self.state, event))
        if new is None:
            raise ProtocolError("%s is not allowed in state %s" % (event, self.state))
        self.state = new

    def submit(self, request):
        """Queue request; it is sent by poll() once the bus is silent."""
        self._transition("submit")
        self.request = request
        self.attempts = 0
        self.counters.requests += 1

    def cancel(self):
        self._transition("cancel")
        self.request = None
        self._buf = b""

    def receive(self, data, now_us):
        """Bytes from the bus, in any chunking; feed them before calling poll(now_us)."""
        if not data:
            return
        self._last_activity_us = now_us
        if self.state != AWAIT_REPLY:
            self.counters.discarded_bytes += len(data)
            return
        self._buf += bytes(data)
        if len(self._buf) > _MAX_BUFFER:
            self.counters.discarded_bytes += len(self._buf) - _MAX_BUFFER
            self._buf = self._buf[-_MAX_BUFFER:]

    def bus_silent(self, now_us):
        last = self._last_activity_us
        return last is None or now_us - last >= self.silence_us

    def wake_us(self):
        """The next time poll() has something to decide, or None when idle."""
        if self.state == READY:
            last = self._last_activity_us
            return 0 if last is None else last + self.silence_us
        if self.state == AWAIT_REPLY:
            deadline = self._sent_end_us + self.timeout_us
            if self._buf or self._crc_failed:
                deadline = min(deadline, self._last_activity_us + self.silence_us)
            return deadline
        return None

    def poll(self, now_us):
        """Advance by the clock and the bytes received; returns Send, Reply, Failure or None."""
        if self.state == AWAIT_REPLY:
            event = self._await_reply(now_us)
            if event is not None:
                return event
        if self.state == READY and self.bus_silent(now_us):
            return self._send(now_us)
        return None

    def _send(self, now_us):
        self._transition("send")
        self.attempts += 1
        self.counters.sent += 1
        frame = self.request.frame
        self._sent_end_us = now_us + transmit_us(len(frame), self.baud)
        self._last_activity_us = self._sent_end_us
        self._buf = b""
        self._crc_failed = False
        return Send(frame)

    def _await_reply(self, now_us):
        outcome = self._parse()
        if isinstance(outcome, Reply):
            self._transition("reply")
            self.counters.replies += 1
            self.request = None
            return outcome
        if outcome is not None:
            return self._fail_or_retry(outcome)
        silent = now_us - self._last_activity_us >= self.silence_us
        if silent and (self._buf or self._crc_failed):
            error = self._bad_frame_error()
            if error is not None:
                return self._fail_or_retry(error)
        if now_us - self._sent_end_us >= self.timeout_us and (silent or not self._buf):
            self.counters.discarded_bytes += len(self._buf)
            self._buf = b""
            return self._fail_or_retry(
                ResponseTimeout(
                    "timeout: no reply within %d ms (%s)"
                    % (self.timeout_us // 1000, self.request.where()),
                    self.request,
                )
            )
        return None

    def _bad_frame_error(self):
        # The bus went silent with bytes that did not make our reply.
        req = self.request
        buf = self._buf
        self._buf = b""
        if self._crc_failed:
            self.counters.discarded_bytes += len(buf)
            return CrcError("CRC error in reply (%s)" % req.where(), req)
        if buf[0] == req.unit and (len(buf) < 2 or (buf[1] & 0x7F) == req.function):
            return FrameError(
                "truncated reply: %d bytes then silence (%s)" % (len(buf), req.where()), req
            )
        self.counters.discarded_bytes += len(buf)
        return None  # noise or another unit's frame: keep waiting for ours

    def _parse(self):
        """Reply, ModbusError, or None (need more bytes); skips bytes that cannot start it."""
        req = self.request
        while self._buf:
            buf = self._buf
            need = self._frame_length(buf, req)
            if need < 0:
                self._skip()
                continue
            if need == 0 or len(buf) < need:
                return None
            frame = buf[:need]
            if crc16_modbus(frame) != 0:
                self._crc_failed = True
                self._skip()
                continue
            self._buf = buf[need:]
            self.counters.discarded_bytes += len(self._buf)
            self._buf = b""
            return self._decode(frame, req)
        return None

    def _skip(self):
        self._buf = self._buf[1:]
        self.counters.discarded_bytes += 1

    @staticmethod
    def _frame_length(buf, req):
        # -1: buf[0] cannot start our reply; 0: not enough bytes to tell; else the length.
        if buf[0] != req.unit:
            return -1
        if len(buf) < 2:
            return 0
        function = buf[1]
        if function == req.function | _EXCEPTION_BIT:
            return 5
        if function != req.function:
            return -1
        if req.function in (READ_HOLDING, READ_INPUT):
            if len(buf) < 3:
                return 0
            if buf[2] != 2 * req.count:
                return -1
        return req.reply_length

    def _decode(self, frame, req):
        if frame[1] & _EXCEPTION_BIT:
            return ExceptionReply(frame[2], req)
        if req.function in (READ_HOLDING, READ_INPUT):
            return Reply(req, list(struct.unpack(">%dH" % req.count, frame[3:-2])))
        if frame[2:6] != req.frame[2:6]:
            return FrameError("write reply does not echo the request (%s)" % req.where(), req)
        return Reply(req, list(req.values))

    def _fail_or_retry(self, error):
        counters = self.counters
        if isinstance(error, ExceptionReply):
            counters.exceptions[error.code] = counters.exceptions.get(error.code, 0) + 1
        elif isinstance(error, ResponseTimeout):
            counters.timeouts += 1
        elif isinstance(error, CrcError):
            counters.crc_errors += 1
        else:
            counters.frame_errors += 1
        self._crc_failed = False
        if not isinstance(error, ExceptionReply) and self.attempts <= self.retries:
            self._transition("retry")
            counters.retries += 1
            return None
        self._transition("fail")
        counters.failures += 1
        request = self.request
        self.request = None
        return Failure(request, error)
