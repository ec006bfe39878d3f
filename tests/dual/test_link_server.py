# The device side of the host link with a fake device, on both runtimes: every command,
# malformed input, authentication and replay. The server must never raise.
import json
import struct

from dualtest import Rng
from netmeter.link import Counter, LinkServer
from shared import linkproto as lp
from shared.frame import RESPONSE, Decoder, Dropped, Frame, encode, payload, wrap
from shared.record import Record

KEY = bytes(range(32))


class FakeDevice:
    def __init__(self, n_records=30):
        self.recs = [
            Record(seq=i, start_utc=1000 + 900 * i, duration_s=900, a_plus=i)
            for i in range(n_records)
        ]
        self.first = 0
        self.config = {"poll_period_s": 15}
        self.calls = []

    def info(self):
        return {"fw": "test", "board": "fake", "device_id": "dev1"}

    def status(self):
        return {"p": [1, 2, 3], "quadrant": [1, 1, 4]}

    def seq_range(self):
        return self.first, len(self.recs)

    def records(self, from_seq, n):
        for rec in self.recs[from_seq:]:
            if n == 0:
                return
            n -= 1
            yield rec.encode()

    def ack(self, upto):
        self.calls.append(("ack", upto))
        self.first = max(self.first, min(upto + 1, len(self.recs)))
        return self.first

    def get_config(self):
        return self.config

    def put_config(self, cfg):
        if cfg.get("poll_period_s") not in (1, 15):
            raise ValueError("poll_period_s = %r: allowed 1, 15" % cfg.get("poll_period_s"))
        self.config = cfg

    def set_time(self, ms):
        self.calls.append(("set_time", ms))
        return ms - 5000

    def reset_net(self):
        self.calls.append(("reset_net",))

    def log(self, n):
        return [[i, "error %d" % i] for i in range(100)][-n:]

    def trace(self, n):
        return [[10, "tx", "010300000030"], [20, "rx", "0103"]][-n:]


class Boom(FakeDevice):
    def status(self):
        raise RuntimeError("sensor on fire")


def one(server, frame_bytes):
    events = Decoder().feed(server.receive(frame_bytes))
    assert len(events) == 1, events
    assert isinstance(events[0], Frame), events
    return events[0]


def ask(server, code, args=b"", rid=1, counter=None, key=KEY):
    body = args
    if counter is not None:
        body = lp.request_body(code, args, key, rid, counter)
    return one(server, encode(rid, code, body))


def ok_json(frame):
    assert frame.code == RESPONSE | lp.OK, frame
    return json.loads(frame.body)


def status_of(frame):
    return frame.code & 0x7F


def test_info_status_config_log_trace():
    server = LinkServer(FakeDevice(), KEY)
    info = ok_json(ask(server, lp.INFO, rid=77))
    assert info["device_id"] == "dev1" and info["proto"] == 1 and info["has_key"] is True
    assert info["counter"] == 0
    status = ok_json(ask(server, lp.STATUS))
    assert status["quadrant"] == [1, 1, 4] and status["link"]["frames"] == 2
    assert ok_json(ask(server, lp.GET_CONFIG)) == {"poll_period_s": 15}
    assert ok_json(ask(server, lp.LOG, b"\x03")) == [
        [97, "error 97"],
        [98, "error 98"],
        [99, "error 99"],
    ]
    assert ok_json(ask(server, lp.TRACE))[0] == [10, "tx", "010300000030"]


def test_reply_carries_the_request_id():
    server = LinkServer(FakeDevice())
    assert ask(server, lp.INFO, rid=0xBEEF).rid == 0xBEEF


def test_pull_pages_raw_records_and_bounds_the_page():
    device = FakeDevice(60)
    server = LinkServer(device, KEY)
    first, next_seq, recs = lp.parse_pull(ask(server, lp.PULL, lp.pull_args(5, 3)).body)
    assert (first, next_seq) == (0, 60)
    assert recs == [device.recs[i].encode() for i in (5, 6, 7)]
    _, _, recs = lp.parse_pull(ask(server, lp.PULL, lp.pull_args(0, 255)).body)
    assert len(recs) == lp.MAX_PAGE
    _, _, recs = lp.parse_pull(ask(server, lp.PULL, lp.pull_args(60, 10)).body)
    assert recs == []
    reply = ask(server, lp.PULL, b"\x00")
    assert status_of(reply) == lp.E_BAD_REQUEST


def test_ack_then_pull_starts_at_the_first_kept_record():
    device = FakeDevice(10)
    server = LinkServer(device, KEY)
    reply = ask(server, lp.ACK, struct.pack("<I", 4), counter=1)
    assert struct.unpack("<I", reply.body) == (5,)
    first, _, recs = lp.parse_pull(ask(server, lp.PULL, lp.pull_args(0, 13)).body)
    assert first == 5 and len(recs) == 5


def test_state_changes_need_a_valid_tag():
    device = FakeDevice()
    server = LinkServer(device, KEY)
    args = struct.pack("<Q", 1764374400000)
    wrong = ask(server, lp.SET_TIME, args, counter=1, key=bytes(32))
    assert status_of(wrong) == lp.E_AUTH and b"bad tag" in wrong.body
    body = lp.request_body(lp.SET_TIME, args, KEY, 3, 1)
    tampered = body[:4] + struct.pack("<Q", 1) + body[12:]
    assert status_of(one(server, encode(3, lp.SET_TIME, tampered))) == lp.E_AUTH
    unsigned = ask(server, lp.RESET_NET, b"")
    assert status_of(unsigned) == lp.E_BAD_REQUEST
    assert device.calls == []
    reply = ask(server, lp.SET_TIME, args, counter=1)
    assert struct.unpack("<q", reply.body) == (1764374400000 - 5000,)
    assert device.calls == [("set_time", 1764374400000)]


def test_replayed_or_stale_counter_is_refused_with_a_clear_error():
    device = FakeDevice()
    server = LinkServer(device, KEY)
    assert status_of(ask(server, lp.RESET_NET, rid=1, counter=5)) == lp.OK
    stale = ask(server, lp.RESET_NET, rid=2, counter=5)
    assert status_of(stale) == lp.E_REPLAY
    assert b"counter 5 is not above the last accepted 5" in stale.body
    assert status_of(ask(server, lp.RESET_NET, rid=3, counter=4)) == lp.E_REPLAY
    assert device.calls == [("reset_net",)]


def test_a_retried_request_gets_the_same_answer_but_runs_once():
    device = FakeDevice()
    server = LinkServer(device, KEY)
    frame = encode(9, lp.ACK, lp.request_body(lp.ACK, struct.pack("<I", 2), KEY, 9, 1))
    first = server.receive(frame)
    assert server.receive(frame) == first
    assert device.calls == [("ack", 2)]


def test_replay_guard_survives_a_restart(tmp="link_counter_test.txt"):
    import os

    try:
        os.remove(tmp)
    except OSError:
        pass
    try:
        server = LinkServer(FakeDevice(), KEY, Counter(tmp))
        frame = encode(1, lp.RESET_NET, lp.request_body(lp.RESET_NET, b"", KEY, 1, 41))
        assert status_of(one(server, frame)) == lp.OK
        rebooted = LinkServer(FakeDevice(), KEY, Counter(tmp))
        assert rebooted.counter.value == 41
        assert status_of(one(rebooted, frame)) == lp.E_REPLAY
    finally:
        os.remove(tmp)


def test_without_a_key_state_changes_are_refused_and_reads_work():
    server = LinkServer(FakeDevice(), None)
    reply = ask(server, lp.ACK, struct.pack("<I", 1), counter=1)
    assert status_of(reply) == lp.E_NO_KEY and b"no link key" in reply.body
    assert ok_json(ask(server, lp.INFO))["has_key"] is False


def test_put_config_validates_and_names_the_problem():
    device = FakeDevice()
    server = LinkServer(device, KEY)
    bad = ask(server, lp.PUT_CONFIG, b'{"poll_period_s": 7}', counter=1)
    assert status_of(bad) == lp.E_INVALID and b"poll_period_s = 7" in bad.body
    junk = ask(server, lp.PUT_CONFIG, b"{not json", counter=2)
    assert status_of(junk) == lp.E_BAD_REQUEST
    good = ask(server, lp.PUT_CONFIG, b'{"poll_period_s": 1}', counter=3)
    assert status_of(good) == lp.OK and device.config == {"poll_period_s": 1}


def test_unknown_command_and_failing_device_get_error_replies():
    server = LinkServer(Boom(), KEY)
    assert status_of(ask(server, 0x55)) == lp.E_UNKNOWN_COMMAND
    reply = ask(server, lp.STATUS)
    assert status_of(reply) == lp.E_FAILED and b"sensor on fire" in reply.body
    assert ok_json(ask(server, lp.INFO))["fw"] == "test"  # and it keeps answering


def test_damaged_frames_are_dropped_and_responses_ignored():
    server = LinkServer(FakeDevice(), KEY)
    good = encode(1, lp.INFO)
    bad = bytearray(good)
    bad[6] = ord("Z") if bad[6] != ord("Z") else ord("Y")
    assert server.receive(bytes(bad)) == b""
    assert server.receive(encode(1, RESPONSE | lp.OK, b"echo")) == b""
    assert server.receive(b"#NM" + b"A" * 5000 + b"\n") == b""
    assert server.stats["dropped"] == 2
    assert ok_json(one(server, good))["fw"] == "test"


def test_other_protocol_version_gets_a_version_error():
    server = LinkServer(FakeDevice(), KEY)
    raw = bytearray(payload(4, lp.INFO))
    raw[0] = 9
    from shared.crc import crc32

    raw[-4:] = struct.pack("<I", crc32(bytes(raw[:-4])))
    reply = one(server, wrap(bytes(raw)))
    assert reply.rid == 4 and status_of(reply) == lp.E_PROTOCOL_VERSION


def test_random_and_mutated_frames_never_raise_and_service_continues():
    rng = Rng(9)
    device = FakeDevice(40)
    server = LinkServer(device, KEY)
    valid = [
        encode(i, code, body)
        for i, (code, body) in enumerate(
            [
                (lp.INFO, b""),
                (lp.PULL, lp.pull_args(0, 24)),
                (lp.STATUS, b""),
                (lp.LOG, b"\x05"),
            ]
        )
    ]
    for i in range(1500):
        base = bytearray(valid[rng.below(len(valid))])
        kind = rng.below(4)
        if kind == 0:
            data = bytes([rng.below(256) for _ in range(rng.below(80))])
        elif kind == 1:
            base[3 + rng.below(len(base) - 4)] = rng.below(256)
            data = bytes(base)
        elif kind == 2:
            data = bytes(base[: rng.below(len(base))])
        else:
            code = rng.below(256)
            data = encode(i & 0xFFFF, code, bytes([rng.below(256) for _ in range(rng.below(40))]))
        for event in Decoder().feed(server.receive(data)):
            assert isinstance(event, (Frame, Dropped))
    first, next_seq, recs = lp.parse_pull(ask(server, lp.PULL, lp.pull_args(0, 24)).body)
    assert (first, next_seq, len(recs)) == (0, 40, lp.MAX_PAGE)  # nothing acked, nothing lost
