"""Property tests (CPython only): encodings, exact energy counts, read plans, RTU parsing."""

import struct
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from netmeter.rtu import READ_HOLDING, Reply, RtuMaster, read_request, transmit_us
from shared.crc import crc16_modbus
from shared.regmap import (
    DATA_TYPES,
    FLOAT32,
    READ_INPUT,
    WORD_ORDERS,
    Quantity,
    RegisterMap,
    float32_to_scaled_int,
    plan_reads,
)

RANGES = {
    "UINT16": (0, 0xFFFF),
    "SINT16": (-0x7FFF, 0x7FFF),
    "UINT32": (0, 0xFFFFFFFF),
    "SINT32": (-0x80000000, 0x7FFFFFFF),
}


@given(
    dtype=st.sampled_from([t for t in DATA_TYPES if t != FLOAT32]),
    order=st.sampled_from(WORD_ORDERS),
    data=st.data(),
)
def test_integer_round_trip(dtype, order, data):
    low, high = RANGES[dtype]
    value = data.draw(st.integers(low, high))
    q = Quantity("x", READ_HOLDING, 0, dtype, order)
    words = q.encode(value)
    assert len(words) == q.size and all(0 <= w <= 0xFFFF for w in words)
    assert q.decode(words) == value


@given(
    order=st.sampled_from(WORD_ORDERS),
    value=st.floats(width=32, allow_nan=False, allow_infinity=False),
)
def test_float32_round_trip(order, value):
    q = Quantity("x", READ_INPUT, 0, FLOAT32, order)
    assert q.decode(q.encode(value)) == value


@given(
    bits=st.integers(0, 0xFFFFFFFF).filter(lambda b: (b >> 23) & 0xFF != 0xFF),
    num=st.integers(1, 10**7),
    den=st.integers(1, 10**4),
)
def test_float32_scaled_count_is_exact(bits, num, den):
    (value,) = struct.unpack(">f", struct.pack(">I", bits))
    assert float32_to_scaled_int(bits, num, den) == round(Fraction(value) * num / den)


quantity_specs = st.lists(
    st.tuples(st.sampled_from([3, 4]), st.integers(0, 600), st.sampled_from(["UINT16", "UINT32"])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200)
@given(specs=quantity_specs, max_registers=st.integers(2, 125), max_gap=st.integers(0, 20))
def test_read_plan_covers_each_quantity_within_limits(specs, max_registers, max_gap):
    quantities = [Quantity("q%d" % i, fn, a, t) for i, (fn, a, t) in enumerate(specs)]
    m = RegisterMap("random", quantities)
    reads = plan_reads(m, m.names(), max_registers, max_gap)
    covered = [q.name for r in reads for q in r.quantities]
    assert sorted(covered) == sorted(m.names())
    for r in reads:
        assert 1 <= r.count <= max_registers
        ends = []
        for q in r.quantities:
            assert q.function == r.function
            assert r.start <= q.address and q.address + q.size <= r.start + r.count
            ends.append(q.address + q.size)
        assert r.start + r.count == max(ends)
        assert r.start == r.quantities[0].address
        # Every bridged gap is within max_gap.
        reach = r.quantities[0].address + r.quantities[0].size
        for q in r.quantities[1:]:
            assert q.address - reach <= max_gap
            reach = max(reach, q.address + q.size)


@given(
    words=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125),
    noise=st.binary(max_size=20).map(lambda b: bytes(x for x in b if x != 1)),
    cuts=st.lists(st.integers(1, 260), max_size=10),
)
def test_reply_is_found_after_noise_in_any_chunking(words, noise, cuts):
    m = RtuMaster(baud=19200, timeout_us=10**6)
    m.submit(read_request(1, READ_HOLDING, 0, len(words)))
    t = 0
    m.poll(t)
    t += transmit_us(8, 19200)
    body = bytes((1, 3, 2 * len(words))) + struct.pack(">%dH" % len(words), *words)
    crc = crc16_modbus(body)
    stream = noise + body + bytes((crc & 0xFF, crc >> 8))
    points = sorted({c for c in cuts if c < len(stream)}) + [len(stream)]
    events, start = [], 0
    for point in points:
        m.receive(stream[start:point], t)
        event = m.poll(t)
        if event is not None:
            events.append(event)
        start = point
        t += 100
    assert len(events) == 1 and isinstance(events[0], Reply)
    assert events[0].registers == words
    assert m.counters.discarded_bytes == len(noise)
