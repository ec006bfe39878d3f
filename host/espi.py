"""`host export --format espi`: Green Button (NAESB REQ.21 ESPI) Atom XML of the history.

The XML is written by xsdata's serializer from the dataclasses below, which bind the subset of
the published schema this export uses: Atom's feed/entry/link/content (atom.xsd) and ESPI's
UsagePoint, MeterReading, ReadingType, IntervalBlock, IntervalReading, ReadingQuality,
DateTimeInterval, ServiceCategory (espi.xsd, NAESB ESPI 4.0, Apache License 2.0, Green
Button Alliance). Element names, order and types follow those schemas; the tests validate
every export against them (../shared/data/espi) and read it back with greenbutton-objects.

Per device (a UsagePoint, electricity) one MeterReading per quantity, each with its
ReadingType and one IntervalBlock per UTC day:

    quantity      flowDirection      uom        record field
    import        1 forward          72 Wh      a_plus  (mWh)
    export        19 reverse         72 Wh      a_minus (mWh)
    reactive Q1   15 quadrant 1      73 VArh    q1      (mvarh)   ... Q4: 18, q4

kind 12 energy, accumulationBehaviour 4 deltaData, commodity 1 electricity (secondary
metered), powerOfTenMultiplier -3 so every value is the record's integer, exact;
intervalLength the records' interval in seconds.

ReadingQuality per flagged interval (docs/fleet.md, "Green Button"): every distinct code of
its flags, from QUALITY below; an interval without flags carries none (ReadingType
defaultQuality 0, valid).
"""

import datetime
import hashlib
import uuid
from dataclasses import dataclass, field

from shared import record as R

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
BASE = "/espi/1_1/resource"

# Project flags -> ESPI QualityOfReading codes.
QUALITY = {
    R.CLOCK_INVALID: 10,  # failed a check: the times are not trustworthy
    R.DATA_INVALID: 10,
    R.BAD_READING: 10,
    R.COMM_ERROR: 10,
    R.METER_RESET: 10,
    R.SOURCE_MISMATCH: 10,
    R.ESTIMATED: 9,  # apportioned linearly in time across a gap
    R.RECOVERED: 11,  # calculated from the registers after the interval
    R.CLOCK_ADJUSTED: 16,  # other characteristics: the interval is real but not plain
    R.POWER_DOWN: 16,
    R.PARTIAL: 16,
    R.NET_RESET: 16,
    R.RECORDS_DROPPED: 16,
    R.PULSES_REJECTED: 16,
}
# name, flowDirection, uom, record field
QUANTITIES = (
    ("import", 1, 72, "a_plus"),
    ("export", 19, 72, "a_minus"),
    ("reactive Q1", 15, 73, "q1"),
    ("reactive Q2", 16, 73, "q2"),
    ("reactive Q3", 17, 73, "q3"),
    ("reactive Q4", 18, 73, "q4"),
)


def qualities(flags):
    return sorted({code for bit, code in QUALITY.items() if flags & bit})


# --- ESPI bindings (espi.xsd) --------------------------------------------------------------


@dataclass
class ServiceCategory:
    class Meta:
        namespace = ESPI

    kind: int = field(default=0, metadata={"type": "Element"})  # 0 electricity


@dataclass
class UsagePoint:
    class Meta:
        namespace = ESPI

    service_category: ServiceCategory = field(
        metadata={"type": "Element", "name": "ServiceCategory"}
    )
    status: int = field(default=1, metadata={"type": "Element"})


@dataclass
class MeterReading:
    class Meta:
        namespace = ESPI


@dataclass
class ReadingType:
    class Meta:
        namespace = ESPI

    # Element order: espi.xsd's sequence.
    accumulationBehaviour: int = field(metadata={"type": "Element"})
    commodity: int = field(metadata={"type": "Element"})
    defaultQuality: int = field(metadata={"type": "Element"})
    flowDirection: int = field(metadata={"type": "Element"})
    intervalLength: int = field(metadata={"type": "Element"})
    kind: int = field(metadata={"type": "Element"})
    powerOfTenMultiplier: int = field(metadata={"type": "Element"})
    uom: int = field(metadata={"type": "Element"})


@dataclass
class DateTimeInterval:
    class Meta:
        namespace = ESPI

    duration: int = field(metadata={"type": "Element"})
    start: int = field(metadata={"type": "Element"})


@dataclass
class ReadingQuality:
    class Meta:
        namespace = ESPI

    quality: int = field(metadata={"type": "Element"})


@dataclass
class IntervalReading:
    class Meta:
        namespace = ESPI

    reading_quality: list[ReadingQuality] = field(
        default_factory=list, metadata={"type": "Element", "name": "ReadingQuality"}
    )
    timePeriod: DateTimeInterval | None = field(default=None, metadata={"type": "Element"})
    value: int | None = field(default=None, metadata={"type": "Element"})


@dataclass
class IntervalBlock:
    class Meta:
        namespace = ESPI

    interval: DateTimeInterval = field(metadata={"type": "Element"})
    interval_reading: list[IntervalReading] = field(
        default_factory=list, metadata={"type": "Element", "name": "IntervalReading"}
    )


# --- Atom bindings (atom.xsd) --------------------------------------------------------------


@dataclass
class Link:
    class Meta:
        name = "link"
        namespace = ATOM

    href: str = field(metadata={"type": "Attribute"})
    rel: str = field(metadata={"type": "Attribute"})


@dataclass
class Content:
    class Meta:
        name = "content"
        namespace = ATOM

    any_element: list[object] = field(
        default_factory=list, metadata={"type": "Wildcard", "namespace": "##other"}
    )


@dataclass
class Entry:
    class Meta:
        name = "entry"
        namespace = ATOM

    id: str = field(metadata={"type": "Element"})
    link: list[Link] = field(metadata={"type": "Element"})
    title: str = field(metadata={"type": "Element"})
    content: Content = field(metadata={"type": "Element"})
    published: str = field(metadata={"type": "Element"})
    updated: str = field(metadata={"type": "Element"})


@dataclass
class Feed:
    class Meta:
        name = "feed"
        namespace = ATOM

    id: str = field(metadata={"type": "Element"})
    title: str = field(metadata={"type": "Element"})
    updated: str = field(metadata={"type": "Element"})
    link: list[Link] = field(default_factory=list, metadata={"type": "Element"})
    entry: list[Entry] = field(default_factory=list, metadata={"type": "Element"})


# --- building the feed ---------------------------------------------------------------------


def _urn(*parts):
    """A stable urn:uuid for a resource: the same history exports the same ids."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return "urn:uuid:%s" % uuid.UUID(bytes=digest[:16], version=5)


def _time(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(key, title, links, obj, now):
    return Entry(
        id=_urn(*key),
        link=[Link(href=href, rel=rel) for rel, href in links],
        title=title,
        content=Content(any_element=[obj]),
        published=now,
        updated=now,
    )


def build_feed(rows, now=None, quantities=QUANTITIES):
    """The Feed of history rows (History.rows(): device and seq order); returns (feed, n)."""
    now = _time(now if now is not None else 0)
    feed = Feed(id=_urn("netmeter-feed"), title="netmeter interval data", updated=now)
    feed.link.append(Link(href="%s/Batch/Subscription" % BASE, rel="self"))
    devices = {}
    n = 0
    for row in rows:
        devices.setdefault(row["device_id"], []).append(row)
        n += 1
    for up_index, (device_id, device_rows) in enumerate(sorted(devices.items()), start=1):
        up = "%s/Subscription/1/UsagePoint/%d" % (BASE, up_index)
        feed.entry.append(
            _entry(
                (device_id, "UsagePoint"),
                "netmeter %s" % device_id,
                [
                    ("self", up),
                    ("up", "%s/Subscription/1/UsagePoint" % BASE),
                    ("related", "%s/MeterReading" % up),
                ],  # fmt: skip
                UsagePoint(service_category=ServiceCategory(kind=0)),
                now,
            )
        )
        interval_s = device_rows[0]["interval_min"] * 60
        for mr_index, (name, flow, uom, key) in enumerate(quantities, start=1):
            mr = "%s/MeterReading/%d" % (up, mr_index)
            rt = "%s/ReadingType/%d-%d" % (BASE, up_index, mr_index)
            feed.entry.append(
                _entry(
                    (device_id, name, "MeterReading"),
                    "%s %s" % (device_id, name),
                    [
                        ("self", mr),
                        ("up", "%s/MeterReading" % up),
                        ("related", rt),
                        ("related", "%s/IntervalBlock" % mr),
                    ],  # fmt: skip
                    MeterReading(),
                    now,
                )
            )
            feed.entry.append(
                _entry(
                    (device_id, name, "ReadingType"),
                    "%s %s (%s)" % (device_id, name, "Wh" if uom == 72 else "VArh"),
                    [("self", rt), ("up", "%s/ReadingType" % BASE)],
                    ReadingType(
                        accumulationBehaviour=4,
                        commodity=1,
                        defaultQuality=0,
                        flowDirection=flow,
                        intervalLength=interval_s,
                        kind=12,
                        powerOfTenMultiplier=-3,
                        uom=uom,
                    ),
                    now,
                )
            )
            for day, day_rows in _days(device_rows):
                first = day_rows[0]["start_utc"]
                last = day_rows[-1]
                block = IntervalBlock(
                    interval=DateTimeInterval(
                        duration=last["start_utc"] + last["duration_s"] - first, start=first
                    )
                )
                for row in day_rows:
                    block.interval_reading.append(
                        IntervalReading(
                            reading_quality=[ReadingQuality(q) for q in qualities(row["flags"])],
                            timePeriod=DateTimeInterval(
                                duration=row["duration_s"], start=row["start_utc"]
                            ),
                            value=row[key],
                        )
                    )
                feed.entry.append(
                    _entry(
                        (device_id, name, "IntervalBlock", day),
                        "%s %s %s" % (device_id, name, day),
                        [
                            ("self", "%s/IntervalBlock/%s" % (mr, day.replace("-", ""))),
                            ("up", "%s/IntervalBlock" % mr),
                        ],  # fmt: skip
                        block,
                        now,
                    )
                )
    return feed, n


def _days(rows):
    out = {}
    for row in rows:
        day = _time(row["start_utc"])[:10]
        out.setdefault(day, []).append(row)
    return sorted(out.items())


def to_xml(feed):
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    serializer = XmlSerializer(config=SerializerConfig(indent="  "))
    return serializer.render(feed, ns_map={None: ATOM, "espi": ESPI})


def export_espi(rows, out, now=None):
    """Write the ESPI feed of rows to the text stream out; returns the record count."""
    import time

    feed, n = build_feed(rows, now=now if now is not None else int(time.time()))
    out.write(to_xml(feed))
    out.write("\n")
    return n
