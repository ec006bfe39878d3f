# The interval record: one versioned, fixed-size binary layout for firmware, host and docs.
# docs/record-format.md describes it; tests decode its hex example on both runtimes.
import struct

from micropython import const

from shared.crc import crc32
from shared.port import sha256

VERSION = const(1)
SIZE = const(76)
LINK_SIZE = const(16)
# version, source, interval_min, seq, start_utc, duration_s, flags, a_plus, a_minus, net,
# q1, q2, q3, q4, pulses_import, pulses_export, link; the CRC-32 follows.
BODY_FORMAT = "<BBHIIIIIIiIIIIII16s"
BODY_SIZE = const(72)
LINK_AT = const(56)  # the link field's offset: the chain hashes the 56 bytes before it

# Billing source of A+ and A-.
SOURCE_PULSES = const(1)
SOURCE_REGISTERS = const(2)
SOURCE_POWER = const(3)

# Quality flags. Bits 1, 2, 5, 6 and 7 keep their DLMS/COSEM load-profile status meaning.
CLOCK_INVALID = const(1 << 1)  # clock not set since boot: the times are not trustworthy
DATA_INVALID = const(1 << 2)  # part of the interval had no valid data (gap, failed reads)
CLOCK_ADJUSTED = const(1 << 5)  # the clock was stepped inside this interval
RECOVERED = const(1 << 6)  # holds energy from an earlier interval that could not be read then
POWER_DOWN = const(1 << 7)  # the device was off during part of this interval
PARTIAL = const(1 << 8)  # the device started measuring inside this interval
ESTIMATED = const(1 << 9)  # energy apportioned by time across a gap longer than allowed
METER_RESET = const(1 << 10)  # a cumulative register went down (not a wrap) or jumped absurdly
NET_RESET = const(1 << 11)  # the cumulative net register was cleared in this interval
BAD_READING = const(1 << 12)  # a NaN, infinite or out-of-range reading was rejected
COMM_ERROR = const(1 << 13)  # a Modbus read failed (timeout, CRC, exception) in this interval
RECORDS_DROPPED = const(1 << 14)  # the store was full and dropped its oldest records
SOURCE_MISMATCH = const(1 << 15)  # the cross-check source disagreed beyond its accuracy
PULSES_REJECTED = const(1 << 16)  # edges were rejected by the debounce filter

FLAG_NAMES = (
    (CLOCK_INVALID, "CLOCK_INVALID"),
    (DATA_INVALID, "DATA_INVALID"),
    (CLOCK_ADJUSTED, "CLOCK_ADJUSTED"),
    (RECOVERED, "RECOVERED"),
    (POWER_DOWN, "POWER_DOWN"),
    (PARTIAL, "PARTIAL"),
    (ESTIMATED, "ESTIMATED"),
    (METER_RESET, "METER_RESET"),
    (NET_RESET, "NET_RESET"),
    (BAD_READING, "BAD_READING"),
    (COMM_ERROR, "COMM_ERROR"),
    (RECORDS_DROPPED, "RECORDS_DROPPED"),
    (SOURCE_MISMATCH, "SOURCE_MISMATCH"),
    (PULSES_REJECTED, "PULSES_REJECTED"),
)

FIELDS = (
    "version",
    "source",
    "interval_min",
    "seq",
    "start_utc",
    "duration_s",
    "flags",
    "a_plus",
    "a_minus",
    "net",
    "q1",
    "q2",
    "q3",
    "q4",
    "pulses_import",
    "pulses_export",
    "link",
)
ZERO_LINK = bytes(LINK_SIZE)


class RecordError(ValueError):
    pass


def flag_names(flags):
    return [name for bit, name in FLAG_NAMES if flags & bit]


class Record:
    """One closed interval. Energies are integers: mWh (active) and mvarh (reactive)."""

    def __init__(
        self,
        seq,
        start_utc,
        duration_s,
        a_plus=0,
        a_minus=0,
        q1=0,
        q2=0,
        q3=0,
        q4=0,
        pulses_import=0,
        pulses_export=0,
        flags=0,
        source=SOURCE_REGISTERS,
        interval_min=15,
        link=ZERO_LINK,
        version=VERSION,
    ):
        self.version = version
        self.source = source
        self.interval_min = interval_min
        self.seq = seq
        self.start_utc = start_utc
        self.duration_s = duration_s
        self.flags = flags
        self.a_plus = a_plus
        self.a_minus = a_minus
        self.q1 = q1
        self.q2 = q2
        self.q3 = q3
        self.q4 = q4
        self.pulses_import = pulses_import
        self.pulses_export = pulses_export
        self.link = link

    @property
    def net(self):
        return self.a_plus - self.a_minus

    def body(self):
        """The 72 bytes that the CRC and the hash chain cover."""
        try:
            return struct.pack(
                BODY_FORMAT,
                self.version,
                self.source,
                self.interval_min,
                self.seq,
                self.start_utc,
                self.duration_s,
                self.flags,
                self.a_plus,
                self.a_minus,
                self.net,
                self.q1,
                self.q2,
                self.q3,
                self.q4,
                self.pulses_import,
                self.pulses_export,
                self.link,
            )
        except (OverflowError, ValueError) as exc:
            raise RecordError("record %d: a field is out of range: %s" % (self.seq, exc))

    def encode(self):
        for name in FIELDS[3:16]:
            value = getattr(self, name)
            low, high = (-(1 << 31), (1 << 31) - 1) if name == "net" else (0, 0xFFFFFFFF)
            if not low <= value <= high:
                raise RecordError(
                    "record %d: %s=%d does not fit its 32-bit field" % (self.seq, name, value)
                )
        body = self.body()
        return body + struct.pack("<I", crc32(body))

    def as_dict(self):
        d = {}
        for name in FIELDS:
            d[name] = getattr(self, name)
        return d

    def __eq__(self, other):
        return isinstance(other, Record) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return "Record(%r)" % (self.as_dict(),)


def decode(data):
    """Decode one record; raises RecordError naming what is wrong (size, CRC, version, net)."""
    if len(data) != SIZE:
        raise RecordError("record is %d bytes, expected %d" % (len(data), SIZE))
    body = data[:BODY_SIZE]
    (stored,) = struct.unpack("<I", data[BODY_SIZE:])
    actual = crc32(body)
    if stored != actual:
        raise RecordError("record CRC mismatch: stored %08x, computed %08x" % (stored, actual))
    values = struct.unpack(BODY_FORMAT, body)
    if values[0] != VERSION:
        raise RecordError(
            "record version %d is not supported (this code reads %d)" % (values[0], VERSION)
        )
    rec = Record(
        seq=values[3],
        start_utc=values[4],
        duration_s=values[5],
        flags=values[6],
        a_plus=values[7],
        a_minus=values[8],
        q1=values[10],
        q2=values[11],
        q3=values[12],
        q4=values[13],
        pulses_import=values[14],
        pulses_export=values[15],
        link=bytes(values[16]),
        source=values[1],
        interval_min=values[2],
        version=values[0],
    )
    if values[9] != rec.net:
        raise RecordError("record %d: net %d is not a_plus - a_minus" % (rec.seq, values[9]))
    return rec


# The hash chain (docs/storage.md): each record's link commits to the link before it and to
# every byte of the record before the link, so an edit, insertion or deletion shows.
def genesis_link(device_id):
    """The link before a device's first record: SHA-256(b"netmeter genesis" + id)[:16]."""
    if isinstance(device_id, str):
        device_id = device_id.encode()
    return sha256(b"netmeter genesis" + device_id).digest()[:LINK_SIZE]


def chain_link(prev_link, data):
    """The link of an encoded record (data: its bytes, at least the first 56): SHA-256 of
    the previous link followed by bytes 0..55 of the record (every field from version to
    pulses_export, seq included, as encoded), truncated to 16 bytes."""
    h = sha256(prev_link)
    h.update(data[:LINK_AT])
    return h.digest()[:LINK_SIZE]


def record_link(data):
    """The link a record carries (bytes 56..71)."""
    return bytes(data[LINK_AT:BODY_SIZE])
