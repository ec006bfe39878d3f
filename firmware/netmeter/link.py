# Device side of the host link, sans-IO: receive(bytes) -> bytes to write. Never raises.
#
# It answers the commands of docs/link-protocol.md by calling a device object (the app side;
# LinkDevice below lists what it must offer, tests use a fake). State-changing commands carry
# an HMAC-SHA256 tag and a counter that must exceed the last accepted one (replay guard).
import json
import struct

from shared import auth
from shared.crc import crc32
from shared.frame import (
    E_VERSION,
    MAX_BODY,
    MAX_PAYLOAD,
    RESPONSE,
    VERSION,
    Decoder,
    Dropped,
    encode,
    wrap,
)
from shared.linkproto import (
    ACK,
    AUTHENTICATED,
    COMMAND_NAMES,
    E_AUTH,
    E_BAD_REQUEST,
    E_FAILED,
    E_INVALID,
    E_NO_KEY,
    E_PROTOCOL_VERSION,
    E_REPLAY,
    E_UNKNOWN_COMMAND,
    GET_CONFIG,
    INFO,
    LOG,
    MAX_PAGE,
    OK,
    OUT_OF_MEMORY,
    PULL,
    PULL_HEAD,
    RECORD_SIZE,
    RESET_NET,
    SET_TIME,
    STATUS,
    TRACE,
)


class LinkDevice:
    """The interface the server calls; the app implements it (netmeter.linkdevice).

    info() -> dict: fw, board, device_id, config_hash, clock_ms, clock_set, first_seq,
        next_seq (the server adds proto, counter and has_key)
    status() -> dict: p, q, s (lists per phase, W/var/VA), quadrant, pulses [imp, exp],
        rejected, comm {...}, errors [...] (the server adds link statistics as "link")
    seq_range() -> (first_seq, next_seq): records still held are first_seq..next_seq-1
    records(from_seq, n) -> iterable of at most n raw 76-byte records from from_seq on
    ack(upto_seq) -> first_seq after the ack (records up to upto_seq may now be dropped)
    get_config() -> dict
    put_config(cfg) -> None; raises ValueError naming key, value and range if invalid
    set_time(unix_ms) -> the clock step in ms (new - old)
    reset_net() -> None
    log(n) -> list of the last n error log entries (JSON-able)
    trace(n) -> list of the last n Modbus frames: [start_us, "tx"|"rx", "hex"] (netmeter.trace)
    """


class LinkServer:
    """receive(data) -> bytes to write back. counter is a persisted Counter (last accepted
    authentication counter); key is the per-device link key (bytes) or None."""

    def __init__(self, device, key=None, counter=None):
        self.device = device
        self.key = key
        self.counter = counter if counter is not None else Counter(None)
        self.decoder = Decoder()
        self._page = bytearray(PULL_HEAD + MAX_PAGE * RECORD_SIZE)
        self._cached = None  # (tag, response) of the last authenticated request
        self.stats = {"frames": 0, "dropped": 0, "errors": 0, "refused": 0}

    def receive(self, data, write=None):
        """The replies to the frames in data, each given to write(reply) as soon as it is
        made; without write, joined and returned. On a board, pass write: four pipelined
        PULL pages joined need one 5.4 KB block, which a fragmented heap may not have (the
        MemoryError then lost every reply of the batch); one at a time they need 1.3 KB."""
        out = b""
        try:
            events = self.decoder.feed(data)
        except Exception:  # noqa: BLE001 - the link must never take the app down
            self.decoder = Decoder()
            return out
        for event in events:
            reply = self._answer(event)
            if not reply:
                continue
            if write is None:
                out += reply
            else:
                write(reply)
            reply = None  # let the next reply reuse the heap this one took
        return out

    def _answer(self, event):
        if isinstance(event, Dropped):
            self.stats["dropped"] += 1
            if event.reason == E_VERSION and event.code is not None and event.code < RESPONSE:
                return self._error(
                    event.rid,
                    E_PROTOCOL_VERSION,
                    "this device speaks link version %d, not %d" % (VERSION, event.version),
                )
            return None
        if event.is_response:
            return None  # an echo or another device's answer: not for us
        self.stats["frames"] += 1
        try:
            return self._dispatch(event.rid, event.code, event.body)
        except MemoryError:
            return self._error(event.rid, E_FAILED, OUT_OF_MEMORY)
        except Exception as exc:  # noqa: BLE001 - a failing handler must not stop the loop
            return self._error(event.rid, E_FAILED, "%s: %s" % (type(exc).__name__, exc))

    def _error(self, rid, status, message):
        self.stats["errors"] += 1
        return encode(rid, RESPONSE | status, message.encode()[:200])

    def _ok(self, rid, body=b""):
        return encode(rid, RESPONSE | OK, body)

    def _json(self, rid, value):
        body = json.dumps(value).encode()
        if len(body) > MAX_BODY:
            return self._error(rid, E_FAILED, "reply of %d bytes is too long" % len(body))
        return self._ok(rid, body)

    def _dispatch(self, rid, code, body):
        if code in AUTHENTICATED:
            return self._authenticated(rid, code, body)
        device = self.device
        if code == INFO:
            info = device.info()
            info["proto"] = VERSION
            info["counter"] = self.counter.value
            info["has_key"] = self.key is not None
            info["max_payload"] = MAX_PAYLOAD
            return self._json(rid, info)
        if code == STATUS:
            status = device.status()
            status["link"] = self.stats
            # The newest errors ride along as far as they fit one frame (LOG has them all).
            errors = status.get("errors") or []
            while errors and len(json.dumps(status)) > MAX_BODY:
                errors.pop(0)
            return self._json(rid, status)
        if code == PULL:
            if len(body) != 5:
                return self._error(rid, E_BAD_REQUEST, "PULL takes from_seq u32, count u8")
            from_seq, count = struct.unpack("<IB", body)
            return self._pull(rid, from_seq, count)
        if code == GET_CONFIG:
            return self._json(rid, device.get_config())
        if code == LOG or code == TRACE:
            n = body[0] if len(body) == 1 else 16
            items = device.log(n) if code == LOG else device.trace(n)
            items = list(items)[-n:] if n else []
            # Drop the oldest until the reply fits one frame.
            while items and len(json.dumps(items)) > MAX_BODY:
                items.pop(0)
            return self._json(rid, items)
        return self._error(rid, E_UNKNOWN_COMMAND, "unknown command %d" % code)

    def _pull(self, rid, from_seq, count):
        # Records go straight into one preallocated page: no list of records, no copies.
        count = min(count, MAX_PAGE)
        first, next_seq = self.device.seq_range()
        page = self._page
        n = 0
        if count:
            for rec in self.device.records(max(from_seq, first), count):
                if n >= count:
                    break
                if not isinstance(rec, (bytes, bytearray, memoryview)):
                    rec = rec.encode()
                if len(rec) != RECORD_SIZE:
                    return self._error(rid, E_FAILED, "store gave a %d-byte record" % len(rec))
                at = PULL_HEAD + n * RECORD_SIZE
                page[at : at + RECORD_SIZE] = rec
                n += 1
        struct.pack_into("<IIB", page, 0, first, next_seq, n)
        view = memoryview(page)[: PULL_HEAD + n * RECORD_SIZE]
        head = struct.pack("<BHB", VERSION, rid, RESPONSE | OK)
        crc = crc32(view, crc32(head))
        return wrap(head + bytes(view) + struct.pack("<I", crc))

    def _authenticated(self, rid, code, body):
        if self.key is None:
            return self._error(
                rid,
                E_NO_KEY,
                "this device has no link key: install one to allow %s" % COMMAND_NAMES[code],
            )
        parts = auth.split_signed(body)
        if parts is None:
            return self._error(rid, E_BAD_REQUEST, "counter and tag missing")
        counter, args, tag = parts
        expected = auth.tag(self.key, rid, code, body[: len(body) - auth.TAG_SIZE])
        if not auth.equal(tag, expected):
            self.stats["refused"] += 1
            return self._error(rid, E_AUTH, "bad tag: wrong key or altered request")
        cached = self._cached
        if cached is not None and cached[0] == tag:
            return cached[1]  # the host retried after losing our reply: same answer
        if counter <= self.counter.value:
            self.stats["refused"] += 1
            return self._error(
                rid,
                E_REPLAY,
                "counter %d is not above the last accepted %d: replayed or stale request"
                % (counter, self.counter.value),
            )
        # The counter is spent before the command runs: a power cut in between cannot make
        # the same request acceptable twice.
        self.counter.store(counter)
        reply = self._run_authenticated(rid, code, args)
        self._cached = (tag, reply)
        return reply

    def _run_authenticated(self, rid, code, args):
        device = self.device
        if code == ACK:
            if len(args) != 4:
                return self._error(rid, E_BAD_REQUEST, "ACK takes upto_seq u32")
            (upto,) = struct.unpack("<I", args)
            first = device.ack(upto)
            return self._ok(rid, struct.pack("<I", first))
        if code == SET_TIME:
            if len(args) != 8:
                return self._error(rid, E_BAD_REQUEST, "SET_TIME takes unix_ms u64")
            (unix_ms,) = struct.unpack("<Q", args)
            step = device.set_time(unix_ms)
            return self._ok(rid, struct.pack("<q", step))
        if code == RESET_NET:
            device.reset_net()
            return self._ok(rid)
        # PUT_CONFIG
        try:
            text = bytes(args).decode()
            _check_strict_json(text)
            cfg = json.loads(text)
        except (ValueError, UnicodeError) as exc:
            return self._error(rid, E_BAD_REQUEST, "config is not JSON: %s" % exc)
        try:
            device.put_config(cfg)
        except ValueError as exc:
            return self._error(rid, E_INVALID, str(exc))
        return self._ok(rid)


def _check_strict_json(text):
    """ValueError if text is not strict JSON: MicroPython's json.loads reads {"a":} as {}.
    A PUT_CONFIG is rare: the checker's code is loaded for it and given back at once."""
    from shared.strictjson import check

    try:
        check(text)
    finally:
        check = None
        from netmeter import heap

        heap.forget_modules(heap.STRICT_JSON_MODULES)
        heap.forget_modules(heap.HEAP_MODULES)


class Counter:
    """The last accepted authentication counter, kept in a file (None: in RAM only).

    Written to a temporary file and renamed over the old one, so a power cut leaves the old
    or the new value, never a torn one."""

    def __init__(self, path):
        self.path = path
        self.value = 0
        if path is not None:
            from netmeter.atomic import exists, read_atomic

            data = read_atomic(path)
            try:
                if data is not None:
                    self.value = int(data.decode().strip())
                elif exists(path) or exists(path + ".tmp"):
                    raise ValueError("torn")
            except (ValueError, UnicodeError):
                # Unreadable: accepting counters from 0 again would let replays in, so
                # refuse every counter until a new key and counter are installed.
                self.value = 0xFFFFFFFF

    def store(self, value):
        self.value = value
        if self.path is not None:
            from netmeter.atomic import write_atomic

            write_atomic(self.path, str(value).encode())
