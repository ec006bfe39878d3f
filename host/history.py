"""The host's record history: SQLite keyed by (device_id, seq), raw records kept beside the
decoded columns, and the checks that the rows still are what the device signed into its chain.

Schema (docs/host.md describes it): `records` (one row per record, the raw 76 bytes in
`raw`), `anchors` (where a chain starts: the genesis for seq 0, or a record taken on trust
when the device no longer held the ones before it), `heads` (the last seq and link synced),
`quarantine` (records pulled past a chain break that the history cannot prove, kept with
the reason until they are accepted: host/sync.py).
"""

import operator
import sqlite3
import struct
import time
from pathlib import Path

from shared.crc import crc32
from shared.record import (
    BODY_FORMAT,
    BODY_SIZE,
    FIELDS,
    SIZE,
    RecordError,
    chain_link,
    decode,
    flag_names,
    record_link,
)

# The record's fields as columns (shared/record.py FIELDS), the key and time first.
_FIRST = ("seq", "start_utc", "duration_s", "flags")
COLUMNS = _FIRST + tuple(f for f in FIELDS if f not in _FIRST + ("version",))
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    start_utc INTEGER NOT NULL,
    duration_s INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    source INTEGER NOT NULL,
    interval_min INTEGER NOT NULL,
    a_plus INTEGER NOT NULL,
    a_minus INTEGER NOT NULL,
    net INTEGER NOT NULL,
    q1 INTEGER NOT NULL,
    q2 INTEGER NOT NULL,
    q3 INTEGER NOT NULL,
    q4 INTEGER NOT NULL,
    pulses_import INTEGER NOT NULL,
    pulses_export INTEGER NOT NULL,
    link BLOB NOT NULL,
    raw BLOB NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anchors (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    link BLOB,
    reason TEXT NOT NULL,
    noted_utc INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE IF NOT EXISTS quarantine (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    raw BLOB NOT NULL,
    reason TEXT NOT NULL,
    noted_utc INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
    device_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    link BLOB NOT NULL
);
"""
_INSERT = (
    "INSERT INTO records (device_id, %s, raw) VALUES (?, %s) "
    % (
        ", ".join(COLUMNS),
        ", ".join("?" * (len(COLUMNS) + 1)),
    )
    + "ON CONFLICT (device_id, seq) DO NOTHING"
)


class HistoryError(Exception):
    """An expected failure of the history database; str() is one line for a person."""


_BODY = struct.Struct(BODY_FORMAT)  # bytes 0..71 of a record, field by field (FIELDS)
_PICK_COLUMNS = operator.itemgetter(*[FIELDS.index(name) for name in COLUMNS])
_SEQ = FIELDS.index("seq")


def row_values(device_id, raw):
    """The row of a record from its raw bytes (one unpack: ingest runs at 100k+ rows/s)."""
    return (device_id, *_PICK_COLUMNS(_BODY.unpack_from(raw)), bytes(raw))


class History:
    """One SQLite file. WAL journal, synchronous=NORMAL: a committed page survives a crash
    of this process; a power cut of the host may lose the last pages, which the device still
    holds because they are acknowledged only after their commit, and the next sync pulls."""

    def __init__(self, path, create=True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise HistoryError("%s does not exist: run `host sync` first" % self.path)
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None)
            # 16 KB pages (a new file only) and a 16 MB page cache: bulk syncs insert a
            # quarter to a half faster than with SQLite's 4 KB and 2 MB defaults.
            self.db.execute("PRAGMA page_size=16384")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA cache_size=-16384")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise HistoryError("%s is not a usable history database: %s" % (path, exc)) from None

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def devices(self):
        rows = self.db.execute(
            "SELECT device_id FROM heads UNION SELECT device_id FROM records "
            "UNION SELECT device_id FROM anchors ORDER BY 1"
        )
        return [r[0] for r in rows]

    def head(self, device_id):
        """(seq, link) of the last record synced for device_id, or None."""
        row = self.db.execute(
            "SELECT seq, link FROM heads WHERE device_id = ?", (device_id,)
        ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def anchors(self, device_id):
        rows = self.db.execute(
            "SELECT seq, link, reason FROM anchors WHERE device_id = ? ORDER BY seq", (device_id,)
        )
        return {
            seq: (bytes(link) if link is not None else None, reason) for seq, link, reason in rows
        }

    def store_page(self, device_id, page, anchor=None):
        """Commit one page of checked records [(Record, raw)] and the new head atomically."""
        if not page:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if anchor is not None:
                seq, link, reason = anchor
                db.execute(
                    "INSERT OR REPLACE INTO anchors VALUES (?, ?, ?, ?, ?)",
                    (device_id, seq, link, reason, int(time.time())),
                )
            db.executemany(_INSERT, [row_values(device_id, raw) for _rec, raw in page])
            raw = page[-1][1]
            last_seq = _BODY.unpack_from(raw)[_SEQ]
            # Quarantined copies of what is now stored (host sync --accept-break) go with it.
            db.execute(
                "DELETE FROM quarantine WHERE device_id = ? AND seq <= ?", (device_id, last_seq)
            )
            db.execute(
                "INSERT INTO heads VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE "
                "SET seq = excluded.seq, link = excluded.link",
                (device_id, last_seq, record_link(raw)),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def ingest(self, device_id, raws, anchor=None):
        """Bulk load of already checked raw records in one transaction (the bench's path)."""
        self.store_page(device_id, [(None, raw) for raw in raws], anchor)

    def quarantine(self, device_id, page, reason):
        """Keep records [(seq, raw)] met past a chain break, with the reason, in one
        transaction; a later sync that meets them again replaces them."""
        now = int(time.time())
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?, ?)",
                [(device_id, seq, bytes(raw), reason, now) for seq, raw in page],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def quarantined(self, device_id=None):
        """[(device_id, first seq, last seq, count, reason)], one entry per reason."""
        sql = (
            "SELECT device_id, min(seq), max(seq), count(*), reason FROM quarantine %s"
            "GROUP BY device_id, reason ORDER BY device_id, min(seq)"
        )
        if device_id is None:
            return list(self.db.execute(sql % ""))
        return list(self.db.execute(sql % "WHERE device_id = ? ", (device_id,)))

    def same_record_elsewhere(self, device_id, seq, raw):
        """Another device whose history holds exactly this raw record at seq, or None."""
        row = self.db.execute(
            "SELECT device_id FROM records WHERE seq = ? AND raw = ? AND device_id != ?",
            (seq, bytes(raw), device_id),
        ).fetchone()
        return row[0] if row else None

    def link_before_elsewhere(self, device_id, seq, raw):
        """(device, link) of another device's record seq-1 that raw follows, or None."""
        rows = self.db.execute(
            "SELECT device_id, link FROM records WHERE seq = ? AND device_id != ?",
            (seq - 1, device_id),
        )
        for dev, link in rows:
            if chain_link(bytes(link), raw) == record_link(raw):
                return dev, bytes(link)
        return None

    def rows(self, device_id=None, start=None, end=None):
        """Decoded rows as dicts (device_id, seq, ..., flags_names), in device and seq order;
        start/end: Unix seconds bounding start_utc (end exclusive)."""
        where, params = [], []
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        if start is not None:
            where.append("start_utc >= ?")
            params.append(start)
        if end is not None:
            where.append("start_utc < ?")
            params.append(end)
        sql = "SELECT device_id, %s FROM records" % ", ".join(COLUMNS)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY device_id, seq"
        for row in self.db.execute(sql, params):
            d = dict(zip(("device_id",) + COLUMNS, row, strict=True))
            d["link"] = bytes(d["link"]).hex()
            d["flag_names"] = flag_names(d["flags"])
            yield d

    def count(self, device_id=None):
        if device_id is None:
            return self.db.execute("SELECT count(*) FROM records").fetchone()[0]
        return self.db.execute(
            "SELECT count(*) FROM records WHERE device_id = ?", (device_id,)
        ).fetchone()[0]

    # --- verify ----------------------------------------------------------------------

    def verify(self, device_id=None):
        """Problems naming device and seq: CRC, columns that differ from the raw record, seq
        gaps (deleted rows), links that do not follow (edited, inserted or deleted rows),
        rows past the synced head (inserted) and a head whose row is gone (deleted)."""
        problems = []
        for dev in [device_id] if device_id is not None else self.devices():
            problems += ["%s: %s" % (dev, p) for p in self._verify_device(dev)]
        return problems

    def _verify_device(self, dev):
        problems = []
        anchors = self.anchors(dev)
        head = self.head(dev)
        prev_seq = prev_link = None
        first_anchor = min(anchors) if anchors else None
        # As blobs: a cell edited into text must be a problem named by its seq, not a decode
        # error of the whole query.
        picked = ["CAST(%s AS BLOB)" % c if c == "link" else c for c in COLUMNS]
        sql = (
            "SELECT %s, CAST(raw AS BLOB), typeof(raw) FROM records WHERE device_id = ? "
            % (", ".join(picked))
            + "ORDER BY seq"
        )
        for row in self.db.execute(sql, (dev,)):
            seq, raw = row[0], bytes(row[-2] or b"")
            if row[-1] != "blob":
                problems.append("seq %d: raw is stored as %s, not the record's bytes (edited row)"
                                % (seq, row[-1]))  # fmt: skip
            row = row[:-1]
            columns = dict(zip(COLUMNS, row[:-1], strict=True))
            columns["link"] = bytes(columns["link"] or b"")
            self._check_raw(seq, raw, columns, problems)
            if prev_seq is None:
                _check_first(seq, first_anchor, problems)
            elif seq != prev_seq + 1:
                if seq not in anchors:
                    problems.append(_gap(prev_seq + 1, seq - 1))
                prev_link = None
            if seq in anchors:
                prev_link = anchors[seq][0]  # None: taken on trust when it was pulled
            if prev_link is not None and chain_link(prev_link, raw) != record_link(raw):
                problems.append(
                    "seq %d: link does not follow %s (edited, inserted or deleted row)"
                    % (seq, "seq %d" % prev_seq if prev_seq is not None else "the anchor")
                )
            prev_seq, prev_link = seq, record_link(raw) if len(raw) == SIZE else None
        if head is not None:
            _check_head(head, prev_seq, prev_link, problems)
        return problems

    @staticmethod
    def _check_raw(seq, raw, columns, problems):
        if len(raw) != SIZE:
            problems.append("seq %d: raw record is %d bytes, not %d (edited row)"
                            % (seq, len(raw), SIZE))  # fmt: skip
            return None
        if int.from_bytes(raw[BODY_SIZE:], "little") != crc32(raw[:BODY_SIZE]):
            problems.append("seq %d: CRC mismatch in the raw record (edited row)" % seq)
            return None
        try:
            rec = decode(raw)
        except RecordError as exc:
            problems.append("seq %d: %s (edited row)" % (seq, exc))
            return None
        for name in COLUMNS:
            if getattr(rec, name) != columns[name]:
                problems.append(
                    "seq %d: column %s = %r but the raw record says %r (edited row)"
                    % (seq, name, columns[name], getattr(rec, name))
                )
                break
        return rec


def _check_first(seq, first_anchor, problems):
    """The device's first row must be its chain's first anchor."""
    if first_anchor is None:
        problems.append("seq %d: no anchor for this chain (rows not from a sync)" % seq)
    elif seq > first_anchor:
        problems.append(_gap(first_anchor, seq - 1))
    elif seq < first_anchor:
        problems.append("seq %d: before the chain's anchor seq %d (inserted row)"
                        % (seq, first_anchor))  # fmt: skip


def _check_head(head, last_seq, last_link, problems):
    """The device's last row must be the synced head (seq, link)."""
    if last_seq is None:
        problems.append("seq ..%d: every row is gone (deleted rows)" % head[0])
    elif last_seq < head[0]:
        problems.append(_gap(last_seq + 1, head[0]) + " at the end")
    elif last_seq > head[0]:
        problems.append(
            "seq %d..%d: past the last synced seq %d (inserted rows)"
            % (head[0] + 1, last_seq, head[0])
        )
    elif last_link != head[1]:
        problems.append("seq %d: link is not the one synced (edited row)" % last_seq)


def _gap(first, last):
    if first == last:
        return "seq %d: missing (deleted row)" % first
    return "seq %d..%d: missing (deleted rows)" % (first, last)
