# The link frame codec on both runtimes: round trips, one byte at a time, console noise,
# and every kind of damage is reported without losing the next frame.
import struct

from dualtest import Rng
from shared.crc import crc32
from shared.frame import (
    E_BASE64,
    E_CRC,
    E_GARBAGE,
    E_OVERSIZED,
    E_SHORT,
    E_TRUNCATED,
    E_VERSION,
    MARKER,
    MAX_BODY,
    MAX_LINE,
    MAX_PAYLOAD,
    Decoder,
    Dropped,
    Frame,
    FrameError,
    encode,
    payload,
    wrap,
)


def frames_of(events):
    return [e for e in events if isinstance(e, Frame)]


def reasons(events):
    return [e.reason for e in events if isinstance(e, Dropped)]


def feed_bytewise(decoder, data):
    out = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    return out


def test_frame_bytes_are_the_documented_layout():
    line = encode(0x1234, 0x01, b"\xaa")
    assert line.startswith(MARKER) and line.endswith(b"\n")
    raw = payload(0x1234, 0x01, b"\xaa")
    assert raw[:5] == bytes([1, 0x34, 0x12, 0x01, 0xAA])
    assert struct.unpack("<I", raw[5:])[0] == crc32(raw[:5])
    assert line == b"#NMATQSAaryvbG0\n"  # the example in docs/link-protocol.md


def test_round_trip_all_at_once_and_byte_at_a_time():
    rng = Rng(1)
    data = b""
    expected = []
    for i in range(40):
        body = bytes([rng.below(256) for _ in range(rng.below(300))])
        expected.append(Frame(i * 7, rng.between(1, 255), body))
        data += encode(i * 7, expected[-1].code, body)
    assert frames_of(Decoder().feed(data)) == expected
    assert frames_of(feed_bytewise(Decoder(), data)) == expected


def test_largest_body_fits_and_one_more_byte_is_refused():
    big = bytes(range(256)) * (MAX_BODY // 256) + bytes(MAX_BODY % 256)
    line = encode(1, 2, big)
    assert len(line) - len(MARKER) - 1 <= MAX_LINE
    assert frames_of(Decoder().feed(line))[0].body == big
    try:
        encode(1, 2, big + b"x")
    except FrameError:
        pass
    else:
        raise AssertionError("an oversized body was framed")


def test_console_noise_between_and_before_frames_is_skipped():
    noise = b"MicroPython v1.2\r\n>>> print('#N')\r\n#N\r\n##NM? no\r\nwarning: x\n"
    a, b = encode(1, 1), encode(2, 3, b"hi")
    events = Decoder().feed(noise + a + b"some print output\r\n" + b"text#" + b)
    assert frames_of(events) == [Frame(1, 1), Frame(2, 3, b"hi")]


def test_marker_mid_line_after_print_text_still_starts_a_frame():
    events = feed_bytewise(Decoder(), b"partial print" + encode(5, 1, b"x"))
    assert frames_of(events) == [Frame(5, 1, b"x")]


def test_crlf_line_ends_are_accepted():
    line = encode(9, 2, b"abc")[:-1] + b"\r\n"
    assert frames_of(Decoder().feed(line)) == [Frame(9, 2, b"abc")]


def test_damaged_frames_are_reported_and_the_next_frame_survives():
    good = encode(3, 2, b"payload")
    flipped = bytearray(good)
    flipped[8] = ord("A") if flipped[8] != ord("A") else ord("B")
    cases = [
        (bytes(flipped), E_CRC),
        (good[:10] + good, E_TRUNCATED),  # cut short by the next frame's marker
        (good[:10] + b"\x00\x01" + b"\n", E_GARBAGE),
        (MARKER + b"A!\n", E_GARBAGE),
        (MARKER + b"AAA\n", E_BASE64),
        (MARKER + b"\n", E_SHORT),
        (MARKER + b"A" * (MAX_LINE + 10) + b"\n", E_OVERSIZED),
        (wrap(b"\x02" + payload(3, 2, b"payload")[1:-4] + b"xxxx"), E_CRC),
    ]
    for damaged, reason in cases:
        for decode in (lambda d: Decoder().feed(d), lambda d: feed_bytewise(Decoder(), d)):
            events = decode(damaged + good)
            assert reasons(events)[:1] == [reason], (damaged[:20], reasons(events))
            assert frames_of(events)[-1:] == [Frame(3, 2, b"payload")], damaged[:20]


def test_other_protocol_version_is_reported_with_its_request_id():
    head = bytes([2, 7, 0, 1])
    raw = head + b"abc" + struct.pack("<I", crc32(head + b"abc"))
    (event,) = Decoder().feed(wrap(raw))
    assert (event.reason, event.rid, event.code, event.version) == (E_VERSION, 7, 1, 2)


def test_no_frame_ever_holds_ctrl_c_or_repl_control_bytes():
    rng = Rng(2)
    for _ in range(300):
        body = bytes([rng.below(256) for _ in range(rng.below(200))])
        line = encode(rng.below(65536), rng.below(256), body)
        for byte in line[:-1]:
            assert 0x20 < byte < 0x7F, line  # printable: no ^A ^B ^C ^D, no \r


def test_random_bytes_never_raise_and_sync_is_kept():
    rng = Rng(3)
    decoder = Decoder()
    good = encode(11, 4, b"after the storm")
    for _ in range(50):
        junk = bytes([rng.below(256) for _ in range(rng.below(400))])
        events = decoder.feed(junk + b"\n" + good)
        assert frames_of(events)[-1:] == [Frame(11, 4, b"after the storm")]


def test_max_payload_constant_matches_the_line_bound():
    assert MAX_LINE == (MAX_PAYLOAD + 2) // 3 * 4
