"""Ingest into a real PostgreSQL (host/fleet/ingest.py), pages handed straight to store():
in order, twice, out of order, altered, forked; the quarantine re-checked when the missing
record arrives; and `verify` catching an edited or deleted row."""

import fleet_services
import psycopg
import pytest
from fleet_services import chained_raws

from host.fleet.ingest import Ingest, verify
from host.fleet.payload import Page

pg, postgres_server = fleet_services.pg, fleet_services.postgres_server  # fixtures


def pages_of(device_id, raws, size):
    return [Page(device_id, raws[i : i + size]) for i in range(0, len(raws), size)]


def rows(conn):
    return [
        (d, s, bytes(r))
        for d, s, r in conn.execute("SELECT device_id, seq, raw FROM readings ORDER BY 1, 2")
    ]


def union(*devices):
    return sorted((d, i, raw) for d, raws in devices for i, raw in enumerate(raws))


@pytest.fixture
def ingest(pg):
    _, dsn = pg
    conn = psycopg.connect(dsn)
    yield Ingest(conn), conn
    conn.close()


def test_two_devices_in_order_are_stored_once_and_verify(ingest):
    store, conn = ingest
    a, b = chained_raws("a", 300), chained_raws("b", 200)
    counts = store.store(pages_of("a", a, 96) + pages_of("b", b, 50))
    assert (counts.stored, counts.duplicates, counts.quarantined) == (500, 0, 0)
    again = store.store(pages_of("a", a, 96)[1:2] + pages_of("b", b, 50)[3:])
    assert (again.stored, again.duplicates, again.quarantined) == (0, 146, 0)
    assert rows(conn) == union(("a", a), ("b", b))
    assert verify(conn) == []
    start, end, a_plus = conn.execute(
        "SELECT interval_start, interval_end, a_plus_mwh FROM readings "
        "WHERE device_id = 'a' AND seq = 4"
    ).fetchone()
    assert start.isoformat() == "2025-11-29T01:00:00+00:00" and (end - start).seconds == 900


def test_out_of_order_pages_wait_in_quarantine_until_the_missing_one_arrives(ingest):
    store, conn = ingest
    a = chained_raws("a", 400)
    p = pages_of("a", a, 100)
    first = store.store([p[2], p[3]])
    assert (first.stored, first.quarantined) == (0, 200)
    reasons = conn.execute("SELECT DISTINCT reason FROM quarantine ORDER BY 1").fetchall()
    assert reasons == [("waiting for seq 199 of a",)]
    assert store.store([p[0]]).stored == 100  # seq 199 still missing: 200.. keep waiting
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 200
    last = store.store([p[1]])
    assert (last.stored, last.released, last.quarantined) == (300, 200, 0)
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert rows(conn) == union(("a", a)) and verify(conn) == []


def test_an_altered_record_stays_in_quarantine_with_the_reason(ingest):
    from shared.record import Record, chain_link, decode, record_link

    store, conn = ingest
    a = chained_raws("a", 10)
    rec = decode(a[5])
    rec.a_plus += 1000  # booked more, CRC recomputed, link kept: the chain shows it
    forged = rec.encode()
    counts = store.store([Page("a", a[:5] + [forged] + a[6:])])
    assert counts.stored == 5 and counts.quarantined == 5
    why = dict(conn.execute("SELECT seq, reason FROM quarantine").fetchall())
    assert why[5].startswith("its link does not follow seq 4")
    assert why[6] == "waiting for seq 4 of a" or why[6].startswith("waiting")
    # The true record arrives: it and everything after it go in; the forgery stays.
    fixed = store.store([Page("a", a[5:6])])
    assert (fixed.stored, fixed.released) == (5, 4)
    left = conn.execute("SELECT seq, raw FROM quarantine").fetchall()
    assert [(s, bytes(r)) for s, r in left] == [(5, forged)]
    assert rows(conn) == union(("a", a)) and verify(conn) == []
    # A fork: a different seq 9 whose link does follow seq 8 (someone who knew the link).
    other = Record(seq=9, start_utc=decode(a[9]).start_utc, duration_s=900, a_plus=1)
    other.link = chain_link(record_link(a[8]), other.encode())
    fork = store.store([Page("a", [other.encode()])])
    assert (fork.stored, fork.duplicates, fork.quarantined) == (0, 0, 1)
    reason = conn.execute("SELECT reason FROM quarantine WHERE seq = 9").fetchone()[0]
    assert reason == "a different record with seq 9 is stored"


def test_a_chain_that_starts_on_trust_is_stored_with_its_anchor(ingest):
    store, conn = ingest
    a = chained_raws("a", 50)
    assert store.store([Page("a", a[20:30])]).quarantined == 10  # no anchor: waits
    counts = store.store([Page("a", a[20:30], anchor=(20, "the device no longer held 0..19"))])
    assert (counts.stored, counts.released) == (10, 10)
    assert conn.execute("SELECT seq, reason FROM anchors").fetchall() == [
        (20, "the device no longer held 0..19")
    ]
    assert verify(conn) == []


def test_verify_names_an_edited_and_a_deleted_row(ingest):
    store, conn = ingest
    store.store([Page("a", chained_raws("a", 20))])
    conn.execute("UPDATE readings SET a_plus_mwh = a_plus_mwh + 1 WHERE seq = 3")
    conn.execute("DELETE FROM readings WHERE seq = 7")
    conn.commit()
    assert verify(conn) == [
        "a seq 3: a column differs from the raw record",
        "a seq 7..7: missing",
    ]


def test_a_message_that_is_not_a_page_is_kept_in_rejected(ingest):
    store, conn = ingest
    counts = store.store([], [("netmeter/a/records", b"{oops", "not JSON")])
    assert counts.rejected == 1
    assert conn.execute("SELECT topic, payload, reason FROM rejected").fetchone() == (
        "netmeter/a/records",
        b"{oops",
        "not JSON",
    )


def test_deferred_pages_are_not_quarantined_and_go_in_when_offered_again(ingest):
    store, conn = ingest
    a = chained_raws("a", 200)
    p = pages_of("a", a, 100)
    later = store.store([p[1]], defer=True)  # its predecessor is on its way elsewhere
    assert later.stored == 0 and later.deferred == {("a", s) for s in range(100, 200)}
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert store.store([p[0]]).stored == 100
    again = store.store([p[1]], defer=True)
    assert (again.stored, again.deferred, again.quarantined) == (100, set(), 0)
    assert rows(conn) == union(("a", a)) and verify(conn) == []
