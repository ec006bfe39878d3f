"""Host side of the link to a netmeter board over its USB serial console (pyserial).

`Link.open(port)` or `Link(transport)`; methods mirror the commands of docs/link-protocol.md.
Every expected failure is a LinkError subclass whose message is one line for a person.
"""

import errno
import json
import os
import stat
import struct
import time
from pathlib import Path

from shared import linkproto as lp
from shared.auth import parse_key
from shared.frame import E_VERSION, RESPONSE, VERSION, Decoder, Dropped, encode

OOM_PAUSE_S = 0.05  # before asking again a read the board lacked the heap for


class LinkError(RuntimeError):
    """An expected failure of the link; str() is the message for the user."""


class PortNotFound(LinkError):
    pass


class PortPermissionDenied(LinkError):
    pass


class PortBusy(LinkError):
    pass


class NoFirmware(LinkError):
    pass


class VersionMismatch(LinkError):
    pass


class LinkTimeout(LinkError):
    pass


class DeviceError(LinkError):
    """The device answered with an error status."""

    def __init__(self, command, status, message):
        self.command = command
        self.status = status
        self.detail = message
        name = lp.STATUS_NAMES.get(status, "error %d" % status)
        super().__init__(
            "%s refused: %s: %s" % (lp.COMMAND_NAMES.get(command, command), name, message)
        )


class AuthError(DeviceError):
    pass


class ReplayError(DeviceError):
    pass


class KeyFileError(LinkError):
    pass


def open_serial(port, baudrate=115200):
    """A pyserial port, or a LinkError saying what is wrong and what to do."""
    import serial

    if not os.path.exists(port):
        raise PortNotFound("%s does not exist: is the board plugged in? (ls /dev/ttyACM*)" % port)
    try:
        return serial.Serial(port, baudrate=baudrate, timeout=0, exclusive=True)
    except serial.SerialException as exc:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.EACCES or "Permission denied" in text:
            raise PortPermissionDenied(
                "permission denied on %s: add yourself to the dialout group "
                "(sudo usermod -aG dialout $USER) and log in again" % port
            ) from None
        if code in (errno.EBUSY, errno.EAGAIN) or "busy" in text.lower() or "lock" in text:
            raise PortBusy(
                "%s is in use by another program (mpremote, a terminal, ModemManager?)" % port
            ) from None
        if code == errno.ENOENT:
            raise PortNotFound("%s does not exist: is the board plugged in?" % port) from None
        raise LinkError("cannot open %s: %s" % (port, text)) from None


class Link:
    """Request/response with ids over a transport with read()/write() (pyserial's shape)."""

    def __init__(self, transport, key=None, timeout=1.0, retries=2, name="the board"):
        self.transport = transport
        self.key = key
        self.timeout = timeout
        self.retries = retries
        self.name = name
        self.decoder = Decoder()
        self._rid = int.from_bytes(os.urandom(2), "little")
        self._counter = None
        self.answered = False  # has a netmeter frame ever come back?
        self.noise = bytearray()  # the console text seen (print output, REPL), for messages

    @classmethod
    def open(cls, port, key=None, **kwargs):
        return cls(open_serial(port), key=key, name=port, **kwargs)

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- request / response ----------------------------------------------------------

    def request(self, code, args=b""):
        """Send one command; return the OK body or raise the matching LinkError."""
        self._rid = (self._rid + 1) & 0xFFFF
        rid = self._rid
        body = args
        if code in lp.AUTHENTICATED:
            if self.key is None:
                raise KeyFileError(
                    "%s changes the device: give the device's link key (--key FILE)"
                    % lp.COMMAND_NAMES[code]
                )
            body = lp.request_body(code, args, self.key, rid, self._next_counter())
        frame = encode(rid, code, body)
        echoed = False
        reply = None
        for _attempt in range(self.retries + 1):
            # The same frame again: a signed request retried is answered from the device's
            # cache, not refused as a replay.
            self.transport.write(frame)
            reply, echo = self._wait(rid, code)
            echoed = echoed or echo
            if reply is not None and not self._short_of_memory(code, reply):
                return self._result(code, reply)
            if reply is not None:
                time.sleep(OOM_PAUSE_S)  # the board's GC gets a moment; then again
        if reply is not None:
            return self._result(code, reply)  # out of memory every time: say so
        if echoed:
            raise NoFirmware(
                "%s echoes requests back: it is at the REPL, not running netmeter (reset it)"
                % self.name
            )
        if not self.answered:
            raise NoFirmware(
                "no netmeter firmware answering on %s (no reply in %.1f s, %d tries)%s"
                % (self.name, self.timeout, self.retries + 1, self._noise_hint())
            )
        raise LinkTimeout(
            "%s did not answer %s within %.1f s (%d tries)"
            % (self.name, lp.COMMAND_NAMES.get(code, code), self.timeout, self.retries + 1)
        )

    @staticmethod
    def _short_of_memory(code, reply):
        """A read the board could not answer for want of heap this once: worth asking again
        (reads change nothing; a signed change is not retried on it)."""
        return (
            code not in lp.AUTHENTICATED
            and reply.code & 0x7F == lp.E_FAILED
            and reply.body == lp.OUT_OF_MEMORY.encode()
        )

    def _noise_hint(self):
        text = bytes(self.noise[-80:]).decode(errors="replace").strip()
        return "; it printed: %r" % text.splitlines()[-1] if text else ""

    def _wait(self, rid, code):
        deadline = time.monotonic() + self.timeout
        echo = False
        while True:
            data = self.transport.read(4096)
            if data:
                for event in self.decoder.feed(data):
                    if isinstance(event, Dropped):
                        if event.reason == E_VERSION and event.code and event.code >= RESPONSE:
                            raise VersionMismatch(
                                "%s speaks link protocol version %d; this host speaks %d: "
                                "update the host or the firmware"
                                % (self.name, event.version, VERSION)
                            )
                        continue
                    if not event.is_response:
                        echo = echo or event.rid == rid
                        continue
                    self.answered = True
                    if event.rid == rid:
                        return event, echo
                self._keep_noise(data)
            elif time.monotonic() >= deadline:
                return None, echo
            else:
                time.sleep(0.002)

    def _keep_noise(self, data):
        if b"#NM" not in data:
            self.noise += data
            del self.noise[:-400]

    def _result(self, code, reply):
        status = reply.code & 0x7F
        if status == lp.OK:
            return reply.body
        message = reply.body.decode(errors="replace")
        if status == lp.E_PROTOCOL_VERSION:
            raise VersionMismatch("%s: %s" % (self.name, message))
        if status == lp.E_AUTH or status == lp.E_NO_KEY:
            raise AuthError(code, status, message)
        if status == lp.E_REPLAY:
            self._counter = None  # ask the device again next time
            raise ReplayError(code, status, message)
        raise DeviceError(code, status, message)

    def _next_counter(self):
        # The device reports the last counter it accepted: start above it, then count up.
        if self._counter is None:
            self._counter = self.info()["counter"]
        self._counter += 1
        return self._counter

    # --- commands --------------------------------------------------------------------

    def _json(self, code, args=b""):
        return json.loads(self.request(code, args))

    def info(self):
        info = self._json(lp.INFO)
        self._counter = max(self._counter or 0, info.get("counter", 0))
        return info

    def status(self):
        return self._json(lp.STATUS)

    def pull(self, from_seq, count=lp.MAX_PAGE):
        """(first_seq, next_seq, [raw 76-byte records]) from from_seq on, one page."""
        return lp.parse_pull(self.request(lp.PULL, lp.pull_args(from_seq, count)))

    def pull_pages(self, starts):
        """PULL a page at each seq in starts, the requests sent together so the replies come
        back in one round trip; [(first_seq, next_seq, [raw records])] in the same order.
        A page whose reply does not come is asked again alone (pull(), with its retries)."""
        rids = []
        frames = []
        for seq in starts:
            self._rid = (self._rid + 1) & 0xFFFF
            rids.append(self._rid)
            frames.append(encode(self._rid, lp.PULL, lp.pull_args(seq, lp.MAX_PAGE)))
        self.transport.write(b"".join(frames))
        replies = {}
        deadline = time.monotonic() + self.timeout
        while len(replies) < len(rids) and time.monotonic() < deadline:
            data = self.transport.read(65536)
            if not data:
                time.sleep(0.0005)
                continue
            for event in self.decoder.feed(data):
                if isinstance(event, Dropped):
                    if event.reason == E_VERSION and event.code and event.code >= RESPONSE:
                        raise VersionMismatch(
                            "%s speaks link protocol version %d; this host speaks %d: "
                            "update the host or the firmware" % (self.name, event.version, VERSION)
                        )
                elif event.is_response and event.rid in rids:
                    self.answered = True
                    replies[event.rid] = event
        out = []
        for seq, rid in zip(starts, rids):
            reply = replies.get(rid)
            if reply is None or self._short_of_memory(lp.PULL, reply):
                out.append(self.pull(seq))  # alone, with pull()'s retries
            else:
                out.append(lp.parse_pull(self._result(lp.PULL, reply)))
        return out

    def pull_all(self, from_seq=0):
        """Every record held from from_seq on (raw), page by page."""
        out = []
        while True:
            first, next_seq, recs = self.pull(from_seq)
            from_seq = max(from_seq, first)
            out += recs
            from_seq += len(recs)
            if not recs or from_seq >= next_seq:
                return out

    def ack(self, upto_seq):
        (first,) = struct.unpack("<I", self.request(lp.ACK, struct.pack("<I", upto_seq)))
        return first

    def get_config(self):
        return self._json(lp.GET_CONFIG)

    def put_config(self, cfg):
        from shared.config import validate

        validate(cfg)  # the same rules the device applies: fail here, before the upload
        self.request(lp.PUT_CONFIG, json.dumps(cfg, separators=(",", ":")).encode())

    def set_time(self, unix_ms=None):
        """Set the device clock (default: now); returns the step the device made, in ms."""
        if unix_ms is None:
            unix_ms = time.time_ns() // 1_000_000
        (step,) = struct.unpack("<q", self.request(lp.SET_TIME, struct.pack("<Q", unix_ms)))
        return step

    def reset_net(self):
        self.request(lp.RESET_NET)

    def log(self, n=16):
        return self._json(lp.LOG, bytes([n]))

    def trace(self, n=16):
        return self._json(lp.TRACE, bytes([n]))


def load_key(path):
    """The device's link key from a file that only its owner may read (chmod 600)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError("key file %s does not exist" % path) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            "key file %s is readable by group or others (mode %03o); refusing to use it: "
            "chmod 600 %s" % (path, mode & 0o777, path)
        )
    try:
        return parse_key(path.read_text())
    except (ValueError, UnicodeError) as exc:
        raise KeyFileError("key file %s: %s" % (path, exc)) from None


def new_key(path, size=32):
    """Write a fresh random key (hex) to path with mode 600; returns the key."""
    key = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key
