"""`host export --format espi`: the Green Button feed validates against the published ESPI
and Atom schemas (where ../shared/data/espi exists, as on CI), reads back with an independent
reader (greenbutton-objects) and the standard library, totals equal to history.db; and the
CSV export's stable column set."""

import csv
import io
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fleet_services import chained_raws, fill_history

from host.cli import main
from host.espi import QUALITY, QUANTITIES, build_feed, qualities, to_xml
from host.history import History
from shared import record as R

# ../shared/data/espi beside the repository (CI); NETMETER_ESPI_DIR points elsewhere.
SCHEMA = (
    Path(
        os.environ.get(
            "NETMETER_ESPI_DIR",
            Path(__file__).resolve().parents[2] / "shared" / "data" / "espi",
        )
    )
    / "espi.xsd"
)
NS = {"atom": "http://www.w3.org/2005/Atom", "espi": "http://naesb.org/espi"}


@pytest.fixture
def history(tmp_path):
    with History(tmp_path / "history.db") as h:
        fill_history(h, "site-a", chained_raws("site-a", 300))  # 3+ UTC days
        fill_history(h, "site-b", chained_raws("site-b", 50, interval_min=5))
        yield h


def export(capsys, history, *extra):
    code = main(["export", "--db", str(history.path), "--format", "espi", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_every_flag_has_a_quality_code_that_the_schema_knows():
    assert set(QUALITY) == {bit for bit, _ in R.FLAG_NAMES}
    assert set(QUALITY.values()) <= {0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
    assert qualities(R.POWER_DOWN | R.RECOVERED | R.PARTIAL) == [11, 16]
    assert qualities(0) == []


def test_the_export_validates_against_the_published_schema(history, capsys):
    if not SCHEMA.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("%s is missing: CI has ../shared/data/espi beside the repo" % SCHEMA)
        pytest.skip("no ESPI schema at %s (CI has it)" % SCHEMA)
    import xmlschema

    schema = xmlschema.XMLSchema(str(SCHEMA))
    xml = export(capsys, history)
    schema.validate(xml)
    # The validation looks inside the Atom content: a wrong ESPI value is caught.
    bad = xml.replace("<espi:flowDirection>19<", "<espi:flowDirection>x19<", 1)
    assert bad != xml
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(bad)


def test_read_back_by_the_standard_library_totals_equal_history(history, capsys):
    root = ET.fromstring(export(capsys, history))
    rows = list(history.rows())
    # Each ReadingType entry's self link -> (flowDirection, uom, multiplier).
    types = {}
    for entry in root.findall("atom:entry", NS):
        rt = entry.find("atom:content/espi:ReadingType", NS)
        if rt is not None:
            self_link = entry.find("atom:link[@rel='self']", NS).get("href")
            types[self_link] = tuple(
                int(rt.find("espi:%s" % k, NS).text)
                for k in ("flowDirection", "uom", "powerOfTenMultiplier", "intervalLength")
            )
    assert sorted({t[:2] for t in types.values()}) == sorted({(q[1], q[2]) for q in QUANTITIES})
    assert {t[2] for t in types.values()} == {-3} and {t[3] for t in types.values()} == {900, 300}
    # Sum every IntervalReading per device and quantity (its MeterReading is in the link).
    sums, qualities_seen = {}, {}
    for entry in root.findall("atom:entry", NS):
        block = entry.find("atom:content/espi:IntervalBlock", NS)
        if block is None:
            continue
        up = entry.find("atom:link[@rel='up']", NS).get("href")
        key = up.split("/UsagePoint/")[1].split("/IntervalBlock")[0]  # "1/MeterReading/2"
        for reading in block.findall("espi:IntervalReading", NS):
            sums[key] = sums.get(key, 0) + int(reading.find("espi:value", NS).text)
            start = int(reading.find("espi:timePeriod/espi:start", NS).text)
            codes = [int(q.text) for q in reading.findall("espi:ReadingQuality/espi:quality", NS)]
            if codes:
                qualities_seen[(key.split("/")[0], start)] = codes
    for up_index, device in ((1, "site-a"), (2, "site-b")):
        mine = [r for r in rows if r["device_id"] == device]
        for mr_index, (_name, _flow, _uom, field) in enumerate(QUANTITIES, start=1):
            key = "%d/MeterReading/%d" % (up_index, mr_index)
            assert sums[key] == sum(r[field] for r in mine), key
        flagged = {
            ("%d" % up_index, r["start_utc"]): qualities(r["flags"]) for r in mine if r["flags"]
        }
        assert (
            flagged
            and {k: v for k, v in qualities_seen.items() if k[0] == "%d" % up_index} == flagged
        )


def test_read_back_by_greenbutton_objects(history, tmp_path):
    from greenbutton_objects import parse

    # greenbutton-objects 2024.7.11 knows flowDirection 0, 1 and 19 only: import and export.
    feed, n = build_feed(history.rows(), now=0, quantities=QUANTITIES[:2])
    path = tmp_path / "gb.xml"
    path.write_text(to_xml(feed))
    usage_points = parse.parse_feed(str(path))
    assert len(usage_points) == 2 and n == 350
    rows = list(history.rows())
    for up, device in zip(sorted(usage_points, key=lambda u: u.title), ("site-a", "site-b")):
        assert up.title == "netmeter %s" % device
        mine = [r for r in rows if r["device_id"] == device]
        by_flow = {}
        for mr in up.meterReadings:
            values = [ir.value for ir in mr.intervalReadings]
            by_flow[mr.readingType.flowDirection.value] = (len(values), sum(values))
        # value is in Wh after the reader applies powerOfTenMultiplier -3
        assert by_flow[1][0] == len(mine) and by_flow[1][1] == pytest.approx(
            sum(r["a_plus"] for r in mine) / 1000
        )
        assert by_flow[19][1] == pytest.approx(sum(r["a_minus"] for r in mine) / 1000)


CSV_HEADER = (
    "device_id,seq,start_utc,end_utc,duration_s,interval_min,source,source_name,a_plus_mwh,a_minus_mwh,"
    "net_mwh,q1_mvarh,q2_mvarh,q3_mvarh,q4_mvarh,pulses_import,pulses_export,flags,flag_names,"
    "link"
)


def test_csv_has_the_documented_stable_columns_one_row_per_interval(history, capsys):
    code = main(["export", "--db", str(history.path), "--device-id", "site-a"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.splitlines()[0] == CSV_HEADER
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 300 and rows[0]["start_utc"] == "2025-11-29T00:00:00Z"
    assert rows[0]["end_utc"] == "2025-11-29T00:15:00Z"
    assert sum(int(r["a_plus_mwh"]) for r in rows) == sum(
        r["a_plus"] for r in history.rows("site-a")
    )
    assert rows[13]["flag_names"] == "POWER_DOWN"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "fleet.md").read_text()
    assert "`%s`" % CSV_HEADER in doc.replace("\n", "")
