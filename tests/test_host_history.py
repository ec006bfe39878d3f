"""host sync, verify, export, plot and config files, in-process: the real LinkServer over a
loopback, serving a real RecordStore (firmware/netmeter/store.py under CPython)."""

import csv
import io
import json
import sqlite3

import pytest
from test_link_host import Loopback

from host.cli import main
from host.history import History
from host.link import Link
from host.sync import SyncError, sync
from netmeter.link import LinkServer
from netmeter.repair import open_store
from netmeter.store import RecordStore
from shared.record import COMM_ERROR, PARTIAL, Record, chain_link, decode

KEY = bytes(range(32))
DEVICE_ID = "meter-7"
T0 = 1764374400  # 2025-11-29 00:00 UTC


class StoreDevice:
    """The LinkDevice calls sync uses, over a RecordStore."""

    def __init__(self, store, device_id=DEVICE_ID):
        self.store = store
        self.device_id = device_id
        self.acks = []
        self.config = {"device_id": device_id, "poll_period_s": 15}

    def info(self):
        return {
            "device_id": self.device_id,
            "board": "fake",
            "fw": "test",
            "clock_set": True,
            "clock_ms": T0 * 1000,
            "first_seq": self.store.first_seq,
            "next_seq": self.store.next_seq,
        }

    def seq_range(self):
        return self.store.first_seq, self.store.next_seq

    def records(self, from_seq, n):
        for raw in self.store.records(from_seq, True):
            if n <= 0:
                return
            n -= 1
            yield bytes(raw)

    def ack(self, upto):
        self.acks.append(upto)
        self.store.ack(upto)
        return self.store.first_seq

    def get_config(self):
        return self.config

    def set_time(self, ms):
        return 0


def make_store(root, n, start=0, segment_records=16, capacity=64):
    store = RecordStore(str(root), DEVICE_ID, capacity=capacity, segment_records=segment_records)
    open_store(store)
    add(store, n, start)
    return store


def add(store, n, start=None):
    seq = store.next_seq if start is None else start
    for i in range(seq, seq + n):
        store.append(
            Record(
                seq=i,
                start_utc=T0 + 900 * i,
                duration_s=900,
                a_plus=1000 * (i % 7),
                a_minus=500 * (i % 5),
                q1=i,
                pulses_import=i % 3,
                flags=(PARTIAL if i == 0 else 0) | (COMM_ERROR if i % 10 == 9 else 0),
                interval_min=15,
            )
        )


def link_to(device):
    return Link(Loopback(LinkServer(device, KEY)), key=KEY, timeout=0.2)


@pytest.fixture
def synced(tmp_path):
    store = make_store(tmp_path / "records", 40)
    device = StoreDevice(store)
    db = tmp_path / "history.db"
    with History(db) as history:
        result = sync(link_to(device), history)
    return tmp_path, db, store, device, result


def test_sync_stores_every_record_raw_and_acks_what_is_committed(synced):
    _, db, store, device, result = synced
    assert (result.stored, result.first, result.last) == (40, 0, 39)
    assert result.flags == {"PARTIAL": 1, "COMM_ERROR": 4}
    assert device.acks == [39]
    rows = sqlite3.connect(db).execute("SELECT seq, raw FROM records ORDER BY seq").fetchall()
    assert [seq for seq, _ in rows] == list(range(40))
    assert store.first_seq == 32  # the ack let the store delete two whole segments
    kept = [bytes(r) for r in store.records(0, True)]
    assert [bytes(raw) for _, raw in rows][32:] == kept


def test_a_second_sync_adds_only_the_new_records_and_the_chain_continues(synced):
    tmp_path, db, store, device, _ = synced
    add(store, 5)
    with History(db) as history:
        result = sync(link_to(device), history)
        assert (result.stored, result.first, result.last) == (5, 40, 44)
        again = sync(link_to(device), history)
        assert again.stored == 0 and history.count() == 45
        assert history.verify() == []
        assert list(history.anchors(DEVICE_ID)) == [0]  # one chain, from the genesis


def test_a_new_history_after_deleted_records_is_anchored_on_trust(tmp_path):
    store = make_store(tmp_path / "records", 40)
    store.ack(35)  # another host took seq 0..31 (two whole segments are deleted)
    assert store.first_seq == 32
    with History(tmp_path / "h.db") as history:
        result = sync(link_to(StoreDevice(store)), history, ack=False)
        assert (result.first, result.last) == (32, 39)
        ((seq, reason),) = result.anchors
        assert seq == 32 and "taken on trust" in reason and "0..31" in reason
        assert history.verify() == []


def test_records_dropped_before_a_pull_are_a_noted_gap_not_a_failure(tmp_path):
    store = make_store(tmp_path / "records", 20, capacity=16, segment_records=8)
    with History(tmp_path / "h.db") as history:
        sync(link_to(StoreDevice(store)), history, ack=False)
        add(store, 30)  # past capacity: the store drops unacknowledged segments
        assert store.first_seq > 20
        result = sync(link_to(StoreDevice(store)), history, ack=False)
        assert "no longer holds seq 20..%d" % (store.first_seq - 1) in result.anchors[0][1]
        assert history.verify() == []


def _corrupt_device(tmp_path, seq, how):
    store = make_store(tmp_path / "records", 12)
    device = StoreDevice(store)
    original = device.records

    def records(from_seq, n):
        for raw in original(from_seq, n):
            raw = bytearray(raw)
            if decode(bytes(raw)).seq == seq:
                raw[32] ^= 1  # q1 changed
                if how == "crc-fixed":
                    from shared.crc import crc32

                    raw[72:] = crc32(bytes(raw[:72])).to_bytes(4, "little")
            yield bytes(raw)

    device.records = records
    return device


def test_a_record_that_fails_its_crc_is_not_stored_and_the_sync_names_its_seq(tmp_path):
    device = _corrupt_device(tmp_path, 5, "crc")
    with History(tmp_path / "h.db") as history:
        with pytest.raises(SyncError, match="seq 5: .*CRC mismatch"):
            sync(link_to(device), history)
        assert history.count() == 0  # the page holding seq 5 was not committed
        assert history.head(DEVICE_ID) is None
    assert device.acks == []  # nothing acknowledged


def test_a_chain_break_stores_what_it_proves_and_quarantines_the_rest(tmp_path):
    """An edited record with a good CRC: seq 0..4 are proven and stored (and acknowledged);
    seq 5..11 are quarantined with the reason, stay on the device, and every sync says how
    to recover; --accept-break takes them in with the break as an audited anchor."""
    device = _corrupt_device(tmp_path, 5, "crc-fixed")
    with History(tmp_path / "h.db") as history:
        for _ in range(2):  # the same answer again, never a loop with no way forward
            with pytest.raises(SyncError, match="seq 5..11 quarantined") as raised:
                sync(link_to(device), history)
            assert "seq 5: its link does not follow seq 4" in str(raised.value)
            assert "host sync --accept-break" in str(raised.value)
            assert history.count() == 5 and history.head(DEVICE_ID)[0] == 4
            assert history.quarantined() == [(DEVICE_ID, 5, 11, 7, history.quarantined()[0][4])]
            assert history.verify() == []
        assert device.acks[-1] == 4  # the proven part only
        result = sync(link_to(device), history, accept_break=True)
        assert result.stored == 7 and history.count() == 12 and history.quarantined() == []
        assert "accepted with `host sync --accept-break`" in history.anchors(DEVICE_ID)[5][1]
        assert history.verify() == []
    assert device.acks[-1] == 11


def test_cli_sync_reports_a_broken_chain_in_one_line(tmp_path, capsys):
    device = _corrupt_device(tmp_path, 3, "crc-fixed")
    code = main(["sync", "--device", "x", "--db", str(tmp_path / "h.db")], link=link_to(device))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("host: ") and "seq 3: its link does not follow seq 2" in last
    assert "seq 3..11 quarantined" in last and "--accept-break" in err


def test_cli_sync_prints_what_it_stored_with_a_progress_bar(tmp_path, capsys):
    store = make_store(tmp_path / "records", 30)
    code = main(
        ["sync", "--device", "x", "--db", str(tmp_path / "h.db")],
        link=link_to(StoreDevice(store)),
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "stored 30 records, seq 0..29; flags seen: COMM_ERROR x3, PARTIAL x1" in out
    assert "[" + "#" * 30 + "] 30/30 records" in err
    assert "acknowledged up to seq 29" in out


def _tamper(db, sql, *params):
    con = sqlite3.connect(db)
    con.execute(sql, params)
    con.commit()
    con.close()


def _verify(db, capsys):
    code = main(["verify", "--db", str(db)])
    out, err = capsys.readouterr()
    return code, out + err


def test_verify_passes_a_clean_history(synced, capsys):
    _, db, *_ = synced
    code, text = _verify(db, capsys)
    assert code == 0 and "40 records, CRCs and hash chains intact" in text


def test_verify_reports_an_edited_column(synced, capsys):
    _, db, *_ = synced
    _tamper(db, "UPDATE records SET a_plus = a_plus + 1 WHERE seq = 7")
    code, text = _verify(db, capsys)
    assert code == 1 and "seq 7: column a_plus" in text and "edited row" in text


def test_verify_reports_edited_raw_bytes_with_or_without_a_fixed_crc(synced, capsys):
    _, db, *_ = synced
    con = sqlite3.connect(db)
    raw = bytearray(con.execute("SELECT raw FROM records WHERE seq = 9").fetchone()[0])
    raw[32] ^= 4  # q1
    con.execute("UPDATE records SET raw = ? WHERE seq = 9", (bytes(raw),))
    con.commit()
    code, text = _verify(db, capsys)
    assert code == 1 and "seq 9: CRC mismatch" in text
    from shared.crc import crc32

    raw[72:] = crc32(bytes(raw[:72])).to_bytes(4, "little")
    rec = decode(bytes(raw))
    con.execute(
        "UPDATE records SET raw = ?, q1 = ? WHERE seq = 9",
        (bytes(raw), rec.q1),
    )
    con.commit()
    code, text = _verify(db, capsys)
    assert code == 1 and "seq 9: link does not follow seq 8" in text
    assert "CRC" not in text and "column" not in text


def test_verify_reports_deleted_rows_in_the_middle_at_the_start_and_at_the_end(synced, capsys):
    _, db, *_ = synced
    _tamper(db, "DELETE FROM records WHERE seq IN (12, 13)")
    code, text = _verify(db, capsys)
    assert code == 1 and "seq 12..13: missing (deleted rows)" in text
    _tamper(db, "DELETE FROM records WHERE seq = 0")
    _tamper(db, "DELETE FROM records WHERE seq = 39")
    code, text = _verify(db, capsys)
    assert "seq 0: missing (deleted row)" in text and "seq 39: missing" in text


def test_verify_reports_an_inserted_row(synced, capsys):
    _, db, *_ = synced
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(records)")]
    row = list(con.execute("SELECT * FROM records WHERE seq = 39").fetchone())
    # A forged seq 40 with a correct CRC and even a correct link: past the synced head.
    rec = decode(bytes(row[cols.index("raw")]))
    rec.seq, rec.start_utc = 40, rec.start_utc + 900
    rec.link = chain_link(rec.link, Record.encode(rec))
    raw = rec.encode()
    row[cols.index("seq")], row[cols.index("start_utc")] = 40, rec.start_utc
    row[cols.index("link")], row[cols.index("raw")] = rec.link, raw
    con.execute("INSERT INTO records VALUES (%s)" % ",".join("?" * len(row)), row)
    con.commit()
    code, text = _verify(db, capsys)
    assert code == 1 and "seq 40..40: past the last synced seq 39 (inserted rows)" in text


def test_export_csv_and_json_hold_the_records_exactly(synced, capsys):
    _, db, store, *_ = synced
    assert main(["export", "--db", str(db), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["seq"]) for r in rows] == list(range(40))
    assert rows[0]["start_utc"] == "2025-11-29T00:00:00Z"
    assert rows[0]["end_utc"] == "2025-11-29T00:15:00Z" and rows[0]["flag_names"] == "PARTIAL"
    assert rows[9]["flag_names"] == "COMM_ERROR"
    assert [int(r["a_plus_mwh"]) for r in rows] == [1000 * (i % 7) for i in range(40)]
    assert [int(r["net_mwh"]) for r in rows] == [1000 * (i % 7) - 500 * (i % 5) for i in range(40)]
    argv = ["export", "--db", str(db), "--format", "json"]
    argv += ["--from", "2025-11-29T01:00", "--to", "2025-11-29T02:00:00+00:00"]
    assert main(argv + ["--device-id", DEVICE_ID]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["seq"] for d in data] == [4, 5, 6, 7]
    assert data[0]["a_minus_mwh"] == 2000 and data[0]["q1_mvarh"] == 4
    assert data[0]["device_id"] == DEVICE_ID and data[0]["flag_names"] == []
    assert main(argv + ["--device-id", "other"]) == 1  # an unknown id is an error, not []
    out, err = capsys.readouterr()
    assert out == "" and "holds no device 'other'" in err


def test_plot_writes_a_png(synced, capsys):
    tmp_path, db, *_ = synced
    out = tmp_path / "day.png"
    assert main(["plot", "--db", str(db), "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_commands_on_a_missing_database_say_so(tmp_path, capsys):
    assert main(["verify", "--db", str(tmp_path / "none.db")]) == 1
    assert "none.db does not exist" in capsys.readouterr().err


INVALID = [
    ('{"poll_period_s": 7}', "poll_period_s = 7: allowed 1, 2, 3"),
    ('{"netting": {"interval_min": 7}}', "netting.interval_min = 7: allowed 1, 5, 10, 15"),
    ('{"netting": {"sources": ["wind"]}}', "netting.sources = 'wind'"),
    ('{"netting": {"max_gap_s": 0}}', "netting.max_gap_s = 0: must be an integer in 1..86400"),
    ('{"netting": {"colour": 1}}', "netting.colour is not a setting"),
    ('{"timeout_ms": 5}', "timeout_ms = 5: must be an integer in 10..10000"),
    ('{"retries": 9}', "retries = 9: must be an integer in 0..5"),
    ('{"rs485": {"baud": 12}}', "rs485.baud = 12"),
    ('{"pulses": {"debounce_ms": 50}}', "pulses.debounce_ms = 50"),
    ('{"meter": {"MAP": "nosuchmeter"}}', "nosuchmeter"),
    ('{"device_id": "a b"}', "device_id = 'a b': must be 1..32 characters"),
    ('{"board": "toaster"}', "board = 'toaster': allowed"),
    ('{"speed": 1}', "speed is not a setting"),
    ("[1, 2]", "must be a JSON object"),
    ('{"poll_period_s": 15,}', "not valid JSON at line 1"),
]


@pytest.mark.parametrize("text,message", INVALID)
def test_config_validate_names_key_value_and_range(tmp_path, capsys, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert main(["config", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("host: bad.json: ") and message in err and err.count("\n") == 1


def test_config_files_take_comments_and_toml(tmp_path, capsys):
    commented = tmp_path / "site.json"
    commented.write_text(
        '// the garage meter\n{"poll_period_s": 15, # every 15 s\n "device_id": "a#b//c"}\n'
    )
    assert main(["config", "validate", str(commented)]) == 1  # '#' is not allowed in an id
    assert "device_id = 'a#b//c'" in capsys.readouterr().err  # the string kept its # and //
    commented.write_text('// the garage meter\n{"poll_period_s": 15 # every 15 s\n}\n')
    toml = tmp_path / "site.toml"
    toml.write_text('poll_period_s = 15\n[netting]\ninterval_min = 5\nsources = ["registers"]\n')
    assert main(["config", "validate", str(commented)]) == 0
    assert main(["config", "validate", str(toml)]) == 0
    toml.write_text("[netting]\ninterval_min = 7\n")
    assert main(["config", "validate", str(toml)]) == 1
    assert "site.toml: netting.interval_min = 7" in capsys.readouterr().err


class UnsetClockDevice(StoreDevice):
    """A board that restarted without a battery clock: INFO says clock_set false."""

    def __init__(self, store):
        StoreDevice.__init__(self, store)
        self.clock_set = False
        self.sets = []

    def info(self):
        return dict(StoreDevice.info(self), clock_set=self.clock_set)

    def set_time(self, ms):
        self.sets.append(ms)
        self.clock_set = True
        return ms - 1609459200000


def test_sync_sets_an_unset_clock_by_itself(tmp_path):
    device = UnsetClockDevice(make_store(tmp_path / "records", 3))
    with History(tmp_path / "h.db") as history:
        result = sync(link_to(device), history)
        assert len(device.sets) == 1 and result.clock_was_unset
        again = sync(link_to(device), history)  # set now: a sync leaves it alone
        assert len(device.sets) == 1 and not again.clock_was_unset
        assert again.clock_step_ms is None


def test_sync_without_a_key_leaves_an_unset_clock_and_still_stores(tmp_path):
    device = UnsetClockDevice(make_store(tmp_path / "records", 3))
    link = Link(Loopback(LinkServer(device, KEY)), key=None, timeout=0.2)
    with History(tmp_path / "h.db") as history:
        result = sync(link, history, key_loader=lambda device_id: None)
        assert device.sets == [] and result.clock_step_ms is None and result.stored == 3


def test_sync_command_says_in_one_line_that_it_set_an_unset_clock(tmp_path, capsys):
    device = UnsetClockDevice(make_store(tmp_path / "records", 3))
    code = main(["sync", "--device", "x", "--db", str(tmp_path / "h.db")], link=link_to(device))
    out, err = capsys.readouterr()
    assert code == 0 and device.sets
    lines = [line for line in out.splitlines() if "clock" in line]
    assert lines == [
        "clock was not set (the board restarted without a clock): set to this computer's UTC; "
        "the readings it held close at the next interval boundary"
    ]
    assert "warning" not in err
