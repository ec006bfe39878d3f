# The sans-IO RTU master: frames, byte-level parsing, timing and recovery, on both runtimes.
import struct

from dualtest import Rng, raises
from netmeter.rtu import (
    _TRANSITIONS,
    AWAIT_REPLY,
    EXCEPTION_NAMES,
    IDLE,
    READ_HOLDING,
    READ_INPUT,
    READY,
    CrcError,
    ExceptionReply,
    Failure,
    FrameError,
    ProtocolError,
    Reply,
    Request,
    ResponseTimeout,
    RtuMaster,
    Send,
    read_request,
    silence_us,
    transmit_us,
    write_multiple_request,
    write_single_request,
)
from shared.crc import crc16_modbus

TIMEOUT_US = 100000


def with_crc(body):
    body = bytes(body)
    crc = crc16_modbus(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def read_reply(unit, function, words):
    body = bytes((unit, function, 2 * len(words)))
    for w in words:
        body += struct.pack(">H", w)
    return with_crc(body)


def master_with_request(request, baud=9600, retries=2, t=0):
    """A master that has just sent request at time t; returns (master, time after the frame)."""
    m = RtuMaster(baud=baud, timeout_us=TIMEOUT_US, retries=retries)
    m.submit(request)
    event = m.poll(t)
    assert isinstance(event, Send) and event.frame == request.frame
    assert m.state == AWAIT_REPLY
    return m, t + transmit_us(len(request.frame), baud)


def feed(m, data, t, chunk=None):
    """Feed data in chunks (all at once by default), polling after each; returns the events."""
    events = []
    step = chunk or len(data)
    for i in range(0, len(data), step):
        m.receive(data[i : i + step], t)
        event = m.poll(t)
        if event is not None:
            events.append(event)
        t += 10
    return events


# ---- frames ------------------------------------------------------------------------------


def test_read_request_frame_is_the_example_from_facts():
    frame = read_request(1, READ_HOLDING, 0, 1).frame
    assert frame == bytes((0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A))


def test_crc16_check_value_from_facts():
    assert crc16_modbus(b"123456789") == 0x4B37


def test_request_frames_match_published_examples():
    # Simply Modbus examples, independent of this code's CRC.
    assert read_request(0x11, READ_HOLDING, 0x6B, 3).frame == bytes.fromhex("1103006B00037687")
    assert write_single_request(0x11, 1, 3).frame == bytes.fromhex("1106000100039A9B")
    frame = write_multiple_request(0x11, 1, [0x000A, 0x0102]).frame
    assert frame == bytes.fromhex("1110000100020400 0A0102C6F0".replace(" ", ""))
    assert read_request(1, READ_INPUT, 0x48, 2).frame[:6] == bytes.fromhex("010400480002")


def test_request_arguments_are_checked():
    assert "1..247" in str(raises(ValueError, read_request, 0, READ_HOLDING, 0, 1))
    assert "1..247" in str(raises(ValueError, read_request, 248, READ_HOLDING, 0, 1))
    assert "1..125" in str(raises(ValueError, read_request, 1, READ_HOLDING, 0, 126))
    assert "65535" in str(raises(ValueError, read_request, 1, READ_HOLDING, 65535, 2))
    assert "1..123" in str(raises(ValueError, write_multiple_request, 1, 0, [0] * 124))
    assert "0..65535" in str(raises(ValueError, write_single_request, 1, 0, 70000))
    assert "03, 04, 06 and 16" in str(raises(ValueError, Request, 1, 5, 0, 1))


# ---- replies in any chunking ---------------------------------------------------------------


def test_reply_fed_all_at_once_is_decoded():
    m, t = master_with_request(read_request(1, READ_HOLDING, 14, 2))
    events = feed(m, read_reply(1, 3, [0x0001, 0xE240]), t + 5000)
    assert len(events) == 1 and isinstance(events[0], Reply)
    assert events[0].registers == [0x0001, 0xE240]
    assert m.state == IDLE and m.counters.replies == 1


def test_reply_fed_one_byte_at_a_time_is_decoded():
    m, t = master_with_request(read_request(7, READ_INPUT, 0, 3))
    reply = read_reply(7, 4, [1, 2, 0xFFFF])
    events = feed(m, reply, t + 5000, chunk=1)
    assert len(events) == 1 and events[0].registers == [1, 2, 0xFFFF]
    assert m.counters.discarded_bytes == 0


def test_reply_fed_in_random_chunks_is_decoded():
    rng = Rng(7)
    for _ in range(30):
        count = rng.between(1, 125)
        words = [rng.below(0x10000) for _ in range(count)]
        m, t = master_with_request(read_request(1, READ_HOLDING, 0, count))
        reply = read_reply(1, 3, words)
        i = 0
        events = []
        while i < len(reply):
            n = rng.between(1, 9)
            m.receive(reply[i : i + n], t)
            event = m.poll(t)
            if event is not None:
                events.append(event)
            i += n
        assert len(events) == 1 and events[0].registers == words


def test_write_single_reply_echo_is_accepted():
    req = write_single_request(1, 14, 0x1234)
    m, t = master_with_request(req)
    events = feed(m, req.frame, t + 3000, chunk=3)
    assert isinstance(events[0], Reply) and events[0].registers == [0x1234]


def test_write_multiple_reply_is_accepted():
    req = write_multiple_request(1, 100, [1, 2, 3])
    m, t = master_with_request(req)
    events = feed(m, with_crc(bytes((1, 16, 0, 100, 0, 3))), t + 3000)
    assert isinstance(events[0], Reply) and events[0].registers == [1, 2, 3]


def test_write_reply_that_does_not_echo_is_a_frame_error():
    m, t = master_with_request(write_single_request(1, 14, 0x1234), retries=0)
    events = feed(m, with_crc(bytes((1, 6, 0, 14, 0x12, 0x35))), t + 3000)
    assert isinstance(events[0], Failure) and isinstance(events[0].error, FrameError)
    assert "does not echo" in str(events[0].error)


# ---- exceptions ----------------------------------------------------------------------------


def test_every_exception_code_has_its_name():
    expected = {
        1: "illegal function",
        2: "illegal data address",
        3: "illegal data value",
        4: "server device failure",
        5: "acknowledge",
        6: "server busy",
        8: "memory parity error",
        0x0A: "gateway path unavailable",
        0x0B: "gateway target failed to respond",
    }
    assert EXCEPTION_NAMES == expected
    for code in range(1, 0x0C):
        m, t = master_with_request(read_request(1, READ_HOLDING, 14, 1))
        events = feed(m, with_crc(bytes((1, 0x83, code))), t + 2000, chunk=1)
        error = events[0].error
        assert isinstance(error, ExceptionReply) and error.code == code
        assert error.name == expected.get(code, "unknown exception code")
        assert str(error).startswith("0x%02X %s" % (code, error.name))
        assert m.counters.exceptions == {code: 1}


def test_exception_message_names_code_register_and_unit():
    m, t = master_with_request(read_request(1, READ_HOLDING, 14, 1))
    events = feed(m, with_crc(bytes((1, 0x83, 0x02))), t + 2000)
    assert str(events[0].error) == "0x02 illegal data address (register 40015 on unit 1)"
    m, t = master_with_request(read_request(3, READ_INPUT, 0x48, 2))
    events = feed(m, with_crc(bytes((3, 0x84, 0x0B))), t + 2000)
    assert str(events[0].error) == (
        "0x0B gateway target failed to respond (register 30073 on unit 3, 2 registers)"
    )


def test_exception_reply_is_not_retried():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=3)
    events = feed(m, with_crc(bytes((1, 0x83, 0x06))), t + 2000)
    assert isinstance(events[0], Failure) and m.state == IDLE
    assert m.poll(t + 10 * TIMEOUT_US) is None
    assert m.counters.sent == 1 and m.counters.retries == 0


# ---- timing --------------------------------------------------------------------------------


def test_inter_frame_silence_per_baud_rate():
    assert silence_us(9600) == 4011  # 3.5 * 11 / 9600 s = 4010.4 us, rounded up: 4.01 ms
    assert silence_us(19200) == 2006  # 2005.2 us: 2.005 ms
    assert silence_us(38400) == 1750
    assert silence_us(115200) == 1750  # fixed above 19200
    assert silence_us(4800) == 8021


def test_request_is_not_sent_before_the_bus_is_silent():
    for baud, silence in ((9600, 4011), (19200, 2006), (115200, 1750)):
        m = RtuMaster(baud=baud, timeout_us=TIMEOUT_US)
        m.receive(b"\x01\x02\x03", 1000000)  # traffic on the bus while idle
        m.submit(read_request(1, READ_HOLDING, 0, 1))
        assert m.poll(1000000 + silence - 1) is None and m.state == READY
        assert m.wake_us() == 1000000 + silence
        event = m.poll(1000000 + silence)
        assert isinstance(event, Send)


def test_back_to_back_requests_keep_the_silence_after_a_reply():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1))
    feed(m, read_reply(1, 3, [5]), t + 1000)
    m.submit(read_request(1, READ_HOLDING, 1, 1))
    assert m.poll(t + 1000 + 4010) is None
    assert isinstance(m.poll(t + 1000 + 4011), Send)


def test_timeout_retries_then_fails():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=2)
    sends = 1
    failure = None
    now = t
    while failure is None and now < t + 10 * TIMEOUT_US:
        now += 500
        event = m.poll(now)
        if isinstance(event, Send):
            sends += 1
        elif isinstance(event, Failure):
            failure = event
    assert sends == 3
    assert isinstance(failure.error, ResponseTimeout)
    assert "no reply within 100 ms (register 40001 on unit 1)" in str(failure.error)
    c = m.counters
    assert (c.requests, c.sent, c.timeouts, c.retries, c.failures) == (1, 3, 3, 2, 1)


def test_timeout_is_measured_from_the_end_of_the_request():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=0)
    assert t == 9167  # 8 bytes of 11 bits at 9600 baud
    assert m.poll(t + TIMEOUT_US - 1) is None
    event = m.poll(t + TIMEOUT_US)
    assert isinstance(event, Failure) and isinstance(event.error, ResponseTimeout)


def test_reply_after_a_retry_succeeds():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=1)
    now = t + TIMEOUT_US
    assert m.poll(now) is None or m.state == AWAIT_REPLY
    assert m.counters.timeouts == 1 and m.counters.sent == 2
    events = feed(m, read_reply(1, 3, [42]), now + 20000)
    assert events[0].registers == [42]


def test_frame_in_progress_at_timeout_is_allowed_to_finish():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=0)
    reply = read_reply(1, 3, [42])
    m.receive(reply[:3], t + TIMEOUT_US - 100)
    assert m.poll(t + TIMEOUT_US) is None
    m.receive(reply[3:], t + TIMEOUT_US + 1000)
    assert m.poll(t + TIMEOUT_US + 1000).registers == [42]


# ---- resynchronisation ---------------------------------------------------------------------


def test_late_reply_to_an_earlier_request_is_discarded():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=0)
    assert isinstance(m.poll(t + TIMEOUT_US), Failure)
    late = read_reply(1, 3, [0xDEAD])
    m.receive(late, t + TIMEOUT_US + 5000)  # arrives while idle
    assert m.counters.discarded_bytes == len(late)
    m.submit(read_request(1, READ_HOLDING, 0, 1))
    # The late bytes reset the silence: nothing goes out until the bus has been quiet.
    assert m.poll(t + TIMEOUT_US + 5000 + 4010) is None
    assert isinstance(m.poll(t + TIMEOUT_US + 5000 + 4011), Send)
    now = t + TIMEOUT_US + 20000
    events = feed(m, read_reply(1, 3, [0x0042]), now)
    assert events[0].registers == [0x0042]


def test_late_reply_during_the_next_request_is_never_matched():
    m, t = master_with_request(read_request(1, READ_HOLDING, 10, 2))
    stale = read_reply(1, 3, [0xDEAD])  # the answer to an older one-register read
    fresh = read_reply(1, 3, [7, 8])
    events = feed(m, stale + fresh, t + 3000, chunk=1)
    assert len(events) == 1 and events[0].registers == [7, 8]
    assert m.counters.discarded_bytes == len(stale)


def test_garbage_before_a_frame_is_skipped():
    for garbage in (b"\x00", b"\xff\x01", b"\x01\x03", b"\x01\x03\x02\x00", b"\x01\x83"):
        m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1))
        events = feed(m, garbage + read_reply(1, 3, [0x1234]), t + 2000, chunk=1)
        assert [type(e) for e in events] == [Reply], garbage
        assert events[0].registers == [0x1234]
        assert m.counters.discarded_bytes == len(garbage)


def test_reply_from_another_unit_is_ignored():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=0)
    events = feed(m, read_reply(2, 3, [0xBAD]), t + 2000)
    assert events == []
    assert m.poll(t + 2000 + 50000) is None and m.state == AWAIT_REPLY  # still waiting for ours
    events = feed(m, read_reply(1, 3, [0x600D]), t + 60000)
    assert events[0].registers == [0x600D]


def test_only_another_units_reply_ends_in_timeout():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=0)
    feed(m, read_reply(2, 3, [1]) + with_crc(bytes((2, 0x83, 2))), t + 2000)
    event = m.poll(t + TIMEOUT_US)
    assert isinstance(event, Failure) and isinstance(event.error, ResponseTimeout)


def test_truncated_frame_is_discarded_and_retried_after_silence():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 2), retries=1)
    reply = read_reply(1, 3, [1, 2])
    m.receive(reply[:6], t + 2000)
    assert m.poll(t + 2000) is None
    assert m.poll(t + 2000 + 4010) is None  # not yet silent
    event = m.poll(t + 2000 + 4011)
    assert isinstance(event, Send)  # retried at once: the bus is already silent
    assert m.counters.frame_errors == 1 and m.counters.retries == 1
    events = feed(m, reply, t + 30000)
    assert events[0].registers == [1, 2]


def test_truncated_frame_without_retries_fails_with_a_frame_error():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 2), retries=0)
    m.receive(read_reply(1, 3, [1, 2])[:4], t + 2000)
    event = m.poll(t + 7000)
    assert isinstance(event, Failure) and isinstance(event.error, FrameError)
    assert "truncated reply: 4 bytes" in str(event.error)


def test_crc_flip_anywhere_is_never_accepted():
    # A flip in the CRC or data is a CRC error, retried after silence; a flip in the unit,
    # function or byte count makes the frame foreign, so it ends in a timeout and a retry.
    good = read_reply(1, 3, [0x1234, 0x5678])
    for i in range(len(good)):
        for bit in range(8):
            bad = bytearray(good)
            bad[i] ^= 1 << bit
            m, t = master_with_request(read_request(1, READ_HOLDING, 0, 2), retries=1)
            events = feed(m, bytes(bad), t + 2000, chunk=1)
            now = t + 2000
            while m.counters.sent < 2 and now < t + 2 * TIMEOUT_US:
                now += 500
                event = m.poll(now)
                if event is not None:
                    events.append(event)
            assert [type(e) for e in events] == [Send], (i, bit)
            assert m.counters.replies == 0
            assert m.counters.crc_errors + m.counters.timeouts == 1
            if i >= 3:
                assert m.counters.crc_errors == 1, (i, bit)


def test_crc_error_is_counted_and_retried():
    good = read_reply(1, 3, [0x1234])
    bad = good[:-1] + bytes((good[-1] ^ 0xFF,))
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=1)
    assert feed(m, bad, t + 2000) == []
    event = m.poll(t + 2000 + 4011)
    assert isinstance(event, Send)
    assert m.counters.crc_errors == 1 and m.counters.retries == 1
    events = feed(m, good, t + 20000)
    assert events[0].registers == [0x1234]


def test_crc_error_without_retries_fails_with_crc_error():
    good = read_reply(1, 3, [0x1234])
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1), retries=0)
    feed(m, good[:3] + bytes((good[3] ^ 1,)) + good[4:], t + 2000)
    event = m.poll(t + 2000 + 4011)
    assert isinstance(event, Failure) and isinstance(event.error, CrcError)
    assert str(event.error) == "CRC error in reply (register 40001 on unit 1)"


def test_bytes_while_idle_are_discarded():
    m = RtuMaster()
    m.receive(read_reply(1, 3, [1]), 0)
    assert m.poll(100000) is None and m.state == IDLE
    assert m.counters.discarded_bytes == 7


# ---- the state table -----------------------------------------------------------------------


def test_state_table_is_the_only_way_between_states():
    events = ("submit", "send", "reply", "fail", "retry", "cancel")
    for state in (IDLE, READY, AWAIT_REPLY):
        for event in events:
            m = RtuMaster()
            m.state = state
            if (state, event) in _TRANSITIONS:
                m._transition(event)
                assert m.state == _TRANSITIONS[(state, event)]
            else:
                raises(ProtocolError, m._transition, event)
                assert m.state == state


def test_submit_while_busy_raises_and_changes_nothing():
    first = read_request(1, READ_HOLDING, 0, 1)
    m, t = master_with_request(first)
    error = raises(ProtocolError, m.submit, read_request(1, READ_HOLDING, 5, 1))
    assert "submit is not allowed in state AWAIT_REPLY" in str(error)
    assert m.state == AWAIT_REPLY and m.request is first and m.counters.requests == 1
    events = feed(m, read_reply(1, 3, [9]), t + 2000)
    assert events[0].request is first


def test_cancel_returns_to_idle_and_discards_what_follows():
    m, t = master_with_request(read_request(1, READ_HOLDING, 0, 1))
    m.cancel()
    assert m.state == IDLE and m.request is None
    assert feed(m, read_reply(1, 3, [1]), t + 2000) == []
