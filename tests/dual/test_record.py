# The record codec: the documented hex example decodes the same on both runtimes.
from dualtest import raises
from shared.record import (
    COMM_ERROR,
    PARTIAL,
    SIZE,
    SOURCE_REGISTERS,
    Record,
    RecordError,
    decode,
    flag_names,
)


def example_bytes():
    """The hex example of docs/record-format.md, read from the document itself."""
    path = __file__.rsplit("/", 3)[0] + "/docs/record-format.md"
    with open(path) as f:
        text = f.read()
    block = text.split("## Example")[1].split("```")[1]
    return bytes(int(word, 16) for word in block.split())


def test_documented_example_decodes():
    rec = decode(example_bytes())
    assert rec.seq == 42 and rec.start_utc == 1764403200 and rec.duration_s == 900
    assert (rec.a_plus, rec.a_minus, rec.net) == (1234567, 89012, 1145555)
    assert (rec.q1, rec.q2, rec.q3, rec.q4) == (300000, 0, 15000, 2500)
    assert (rec.pulses_import, rec.pulses_export) == (1235, 89)
    assert rec.flags == PARTIAL | COMM_ERROR
    assert flag_names(rec.flags) == ["PARTIAL", "COMM_ERROR"]
    assert rec.source == SOURCE_REGISTERS and rec.interval_min == 15


def test_encode_reproduces_the_example():
    assert decode(example_bytes()).encode() == example_bytes()
    assert len(example_bytes()) == SIZE


def test_round_trip_with_link_and_negative_net():
    rec = Record(7, 1000, 300, a_plus=1, a_minus=5, link=b"\x01" * 16)
    again = decode(rec.encode())
    assert again == rec and again.net == -4


def test_corrupted_record_is_refused_with_the_reason():
    data = bytearray(example_bytes())
    data[20] ^= 0x01
    assert "CRC" in str(raises(RecordError, decode, bytes(data)))
    assert "76" in str(raises(RecordError, decode, example_bytes()[:-1]))


def test_field_out_of_range_is_refused():
    exc = raises(RecordError, Record(1, 0, 900, a_plus=1 << 32).encode)
    assert "a_plus" in str(exc)
    exc = raises(RecordError, Record(1, 0, 900, a_plus=0, a_minus=(1 << 31) + 5).encode)
    assert "net" in str(exc)
