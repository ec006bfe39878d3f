# netmeter.trace: the pieces a main loop reads are joined back into the frames the line
# carried, at 9600 baud timing, whatever the chunking; bounded entries in a fixed ring.
from binascii import hexlify

from dualtest import Rng, raises
from netmeter.rtu import read_request, silence_us, transmit_us
from netmeter.trace import MAX_ENTRY, FrameTrace
from shared.crc import crc16_modbus

BAUD = 9600
CHAR_US = transmit_us(1, BAUD)  # 1146 us: one 11-bit character


def reply(count=24, unit=1, seed=0):
    """A 5 + 2 * count byte read reply with a valid CRC (53 bytes for 24 registers)."""
    body = bytes([unit, 3, 2 * count]) + bytes((seed + i * 7) & 0xFF for i in range(2 * count))
    crc = crc16_modbus(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def hexof(data):
    return hexlify(data).decode()


def arrivals(data, t0):
    """When each byte of data has fully arrived, sent back to back from t0 at 9600 baud."""
    return [t0 + (i + 1) * 11000000 // BAUD for i in range(len(data))]


def read_as_loop(trace, data, t0, next_read):
    """Feed data as a main loop sees it: at each read time, the bytes arrived by then
    (nothing, often). next_read(t) gives the following read time. Returns the last read's."""
    ends = arrivals(data, t0)
    t, got = t0, 0
    while got < len(data):
        t = next_read(t)
        n = got
        while n < len(data) and ends[n] <= t:
            n += 1
        trace.add(t, "rx", data[got:n])
        got = n
    return t


def idle(trace, t0, t1, step):
    """Reads that find the line quiet from t0 to t1."""
    for t in range(t0, t1 + 1, step):
        trace.add(t, "rx", b"")


def exchange(trace, t0, next_read, answer):
    """A request written at t0, then its reply after a 5 ms turnaround; returns the end."""
    request = read_request(1, 3, 0, 24).frame
    trace.add(t0, "tx", request)
    start = t0 + transmit_us(len(request), BAUD) + 5000
    return start, read_as_loop(trace, answer, start, next_read)


def slower_than(rng, slowest_us):
    return lambda t: t + rng.between(50, slowest_us)


def test_reply_read_one_byte_at_a_time_is_one_entry():
    trace = FrameTrace(BAUD)
    answer = reply()
    start, _ = exchange(trace, 1000000, lambda t: t + 300, answer)  # a fast loop
    (tx, rx) = trace.entries()
    assert tx == (1000000, "tx", hexof(read_request(1, 3, 0, 24).frame))
    assert rx[1:] == ("rx", hexof(answer)) and len(answer) == 53
    assert start <= rx[0] <= start + CHAR_US  # the first byte's start, to within a read


def test_reply_read_in_random_chunks_is_one_entry_at_any_loop_speed():
    rng = Rng(13)
    for slowest_us in (500, 3000, 10000, 40000):  # loops faster and slower than 3.5 chars
        trace = FrameTrace(BAUD)
        t = 0
        answers = []
        for i in range(8):
            answer = reply(count=rng.between(1, 60), seed=i)
            answers.append(answer)
            _, t = exchange(trace, t + 20000, slower_than(rng, slowest_us), answer)
        entries = trace.entries()
        assert [e[1] for e in entries] == ["tx", "rx"] * 8, (slowest_us, entries)
        assert [e[2] for e in entries[1::2]] == [hexof(a) for a in answers], slowest_us


def test_silence_of_three_and_a_half_characters_splits_garbage_from_the_reply():
    trace = FrameTrace(BAUD)
    garbage, answer = b"\x00\xff\x55", reply(count=2)
    trace.add(0, "tx", read_request(1, 3, 0, 2).frame)
    end = read_as_loop(trace, garbage, 10000, lambda t: t + 200)
    # The reply starts one silence after the garbage's last byte: a new frame on the line.
    idle(trace, end, end + silence_us(BAUD), 200)
    read_as_loop(trace, answer, end + silence_us(BAUD), lambda t: t + 200)
    assert [e[1:] for e in trace.entries()[1:]] == [("rx", hexof(garbage)), ("rx", hexof(answer))]
    # Quiet reads shorter than 3.5 characters do not end a frame.
    trace = FrameTrace(BAUD)
    trace.add(0, "rx", garbage)
    idle(trace, 0, silence_us(BAUD) - 1, 100)
    trace.add(silence_us(BAUD), "rx", answer)
    assert [e[1:] for e in trace.entries()] == [("rx", hexof(garbage + answer))]
    # Garbage with no pause before the reply is one run on the line: one entry.
    trace = FrameTrace(BAUD)
    read_as_loop(trace, garbage + answer, 0, lambda t: t + 200)
    assert [e[1:] for e in trace.entries()] == [("rx", hexof(garbage + answer))]


def test_a_transmission_ends_the_received_entry():
    trace = FrameTrace(BAUD)
    trace.add(0, "rx", b"\x01\x02")
    trace.add(100, "tx", b"\x01\x03")
    trace.add(200, "rx", b"\x04")
    assert [e[1:] for e in trace.entries()] == [("rx", "0102"), ("tx", "0103"), ("rx", "04")]


def test_entries_are_bounded_to_one_adu_and_the_ring_keeps_the_newest():
    trace = FrameTrace(BAUD, frames=16, nbytes=2048)
    noise = bytes(i & 0xFF for i in range(600))
    read_as_loop(trace, noise, 0, lambda t: t + 5000)  # 600 bytes without a pause
    assert [len(e[2]) // 2 for e in trace.entries()] == [MAX_ENTRY, MAX_ENTRY, 88]
    assert "".join(e[2] for e in trace.entries()) == hexof(noise)
    rng = Rng(7)
    t, answers = 10**7, []
    for i in range(40):  # wraps the 2048-byte ring many times
        answer = reply(count=rng.between(1, 125), seed=i)
        answers.append(answer)
        _, t = exchange(trace, t + 100000, lambda t: t + rng.between(100, 2000), answer)
    entries = trace.entries()
    assert trace.used <= 2048 and len(entries) <= 16
    kept = [hexof(a) for a in answers][-len(entries) // 2 :]
    assert [e[2] for e in entries if e[1] == "rx"] == kept
    times = [e[0] for e in entries]
    assert times == sorted(times)
    assert raises(ValueError, FrameTrace, BAUD, 16, 100)
