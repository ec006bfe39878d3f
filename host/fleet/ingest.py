"""`host ingest`: pages of records from MQTT into PostgreSQL, verified, exactly once in effect.

A worker subscribes with the MQTT 5 shared subscription $share/<group>/netmeter/+/records
(several workers split the messages), takes up to a batch of messages, and stores them with
Ingest.store() in one transaction; only after the commit does it PUBACK them, so a worker or
a database that dies mid-batch loses nothing: the broker delivers the batch again and the
unique keys make the second copy a no-op.

Verification (Ingest.store): every record's CRC (payload.decode_page), and its link must follow
the previous record of its device (seq 0: the genesis link of the device id; a page whose
sender started its chain on trust says so in `anchor`). A record whose predecessor is not
stored yet waits in `quarantine` with the reason and is re-checked whenever a batch brings
records of its device; a record that does not follow, or differs from the one already stored
with its seq or interval, stays there. Nothing is dropped silently; a message that is not a
page of records at all goes to `rejected` whole.

Devices are locked per transaction (pg_advisory_xact_lock) so two workers holding
consecutive pages of one device cannot both see "predecessor missing" and leave a page
waiting forever. The schema is in SCHEMA and docs/fleet.md.
"""

import struct
import time
from urllib.parse import urlsplit

from shared.record import BODY_FORMAT, FIELDS, chain_link, genesis_link, record_link

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device_id text NOT NULL,
    seq bigint NOT NULL,
    interval_start timestamptz NOT NULL,
    interval_end timestamptz NOT NULL,
    interval_min smallint NOT NULL,
    source smallint NOT NULL,
    flags integer NOT NULL,
    a_plus_mwh bigint NOT NULL,
    a_minus_mwh bigint NOT NULL,
    net_mwh bigint NOT NULL,
    q1_mvarh bigint NOT NULL,
    q2_mvarh bigint NOT NULL,
    q3_mvarh bigint NOT NULL,
    q4_mvarh bigint NOT NULL,
    pulses_import bigint NOT NULL,
    pulses_export bigint NOT NULL,
    link bytea NOT NULL,
    raw bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT readings_seq UNIQUE (device_id, seq),
    CONSTRAINT readings_interval UNIQUE (device_id, interval_start)
);
CREATE TABLE IF NOT EXISTS anchors (
    device_id text NOT NULL,
    seq bigint NOT NULL,
    reason text NOT NULL,
    noted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE IF NOT EXISTS quarantine (
    device_id text NOT NULL,
    seq bigint NOT NULL,
    raw bytea NOT NULL,
    anchor_reason text,
    reason text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    checked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, seq, raw)
);
CREATE TABLE IF NOT EXISTS rejected (
    topic text NOT NULL,
    payload bytea NOT NULL,
    reason text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
"""

# The record's fields in the order of the staging table (COPY) and of readings.
_STAGE_COLUMNS = (
    ("device_id", "text"),
    ("seq", "bigint"),
    ("start_utc", "bigint"),
    ("duration_s", "bigint"),
    ("interval_min", "smallint"),
    ("source", "smallint"),
    ("flags", "integer"),
    ("a_plus", "bigint"),
    ("a_minus", "bigint"),
    ("net", "bigint"),
    ("q1", "bigint"),
    ("q2", "bigint"),
    ("q3", "bigint"),
    ("q4", "bigint"),
    ("pulses_import", "bigint"),
    ("pulses_export", "bigint"),
    ("link", "bytea"),
    ("raw", "bytea"),
)
STAGING = "CREATE TEMP TABLE IF NOT EXISTS staging (%s) ON COMMIT DELETE ROWS" % ", ".join(
    "%s %s" % c for c in _STAGE_COLUMNS
)
READING_COLUMNS = (
    "device_id, seq, interval_start, interval_end, interval_min, source, flags, a_plus_mwh, "
    "a_minus_mwh, net_mwh, q1_mvarh, q2_mvarh, q3_mvarh, q4_mvarh, pulses_import, "
    "pulses_export, link, raw"
)
_FROM_STAGING = (
    "INSERT INTO readings (%s) SELECT device_id, seq, to_timestamp(start_utc), "
    "to_timestamp(start_utc + duration_s), interval_min, source, flags, a_plus, a_minus, net, "
    "q1, q2, q3, q4, pulses_import, pulses_export, link, raw FROM staging "
    "ON CONFLICT DO NOTHING" % READING_COLUMNS
)
_BODY = struct.Struct(BODY_FORMAT)
_PICK = [FIELDS.index(name) for name, _ in _STAGE_COLUMNS[1:16]]
_SEQ_FIELD = struct.Struct("<I")  # seq: bytes 4..7 of BODY_FORMAT


class IngestError(Exception):
    """An expected failure (bad URL, unreachable database); str() is one line."""


def stage_row(device_id, raw):
    """The staging row of a raw record: the values COPY sends (and the bench's COPY too)."""
    values = _BODY.unpack_from(raw)
    return (device_id, *[values[i] for i in _PICK], record_link(raw), raw)


SCHEMA_LOCK = 0x6E65746D  # workers starting together create the tables one at a time


def create_schema(conn):
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%d)" % SCHEMA_LOCK)
        conn.execute(SCHEMA)


class Counts:
    """What one store() did: records stored, duplicates seen, quarantined, released from
    quarantine, messages rejected."""

    def __init__(self):
        self.stored = self.duplicates = self.quarantined = self.released = self.rejected = 0
        self.deferred = set()

    def add(self, other):
        for name in ("stored", "duplicates", "quarantined", "released", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __repr__(self):
        return (
            "stored %d, duplicates %d, quarantined %d, released from quarantine %d, "
            "rejected messages %d"
            % (self.stored, self.duplicates, self.quarantined, self.released, self.rejected)
        )


class Ingest:
    """Stores batches of payload.Page into one PostgreSQL connection (psycopg 3)."""

    def __init__(self, conn):
        self.conn = conn
        create_schema(conn)
        conn.execute(STAGING)
        conn.commit()

    def store(self, pages, rejected=(), defer=False):
        """Verify and store pages (and rejected (topic, payload, reason)) in one transaction.

        defer: records that only wait for their predecessor (new ones, not from quarantine)
        are not quarantined but named in counts.deferred {(device_id, seq)}: the caller keeps
        their messages unacknowledged and offers them again shortly (another worker is most
        likely storing the predecessor right now), then without defer."""
        counts = Counts()
        with self.conn.transaction():
            self._store(pages, rejected, counts, defer)
        return counts

    def _store(self, pages, rejected, counts, defer=False):
        cur = self.conn.cursor()
        if rejected:
            cur.executemany(
                "INSERT INTO rejected (topic, payload, reason) VALUES (%s, %s, %s)", rejected
            )
            counts.rejected = len(rejected)
        if not pages:
            return
        conflicts = []  # (device_id, seq, raw, anchor_reason, reason)
        candidates = _candidates(pages, conflicts)
        devices = sorted(candidates)
        held_before = _lock_and_add_quarantined(cur, devices, candidates, conflicts)
        stored = _stored_before_runs(cur, candidates)
        accepted, anchors, waiting, released = [], [], [], []
        for device_id in devices:
            _judge_device(
                device_id, candidates[device_id], stored, accepted, anchors, waiting, released
            )
        waiting += _insert_accepted(cur, accepted, counts)
        if anchors:
            cur.executemany(
                "INSERT INTO anchors (device_id, seq, reason) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                anchors,
            )
        if released:
            cur.executemany(
                "DELETE FROM quarantine WHERE device_id = %s AND seq = %s AND raw = %s", released
            )
            counts.released = len(released)
        waiting += conflicts
        _quarantine(cur, waiting, held_before, counts, defer)


def _candidates(pages, conflicts):
    """Per device: {seq: [raw, anchor_reason, from_quarantine]} of the pages' records."""
    candidates = {}
    for page in pages:
        dev = candidates.setdefault(page.device_id, {})
        for raw in page.raws:
            seq = _SEQ_FIELD.unpack_from(raw, 4)[0]
            reason = page.anchor[1] if page.anchor and page.anchor[0] == seq else None
            _offer(dev, page.device_id, seq, raw, reason, False, conflicts)
    return candidates


def _lock_and_add_quarantined(cur, devices, candidates, conflicts):
    """Lock the devices for this transaction and offer their quarantined records again;
    returns those records as (device_id, seq, raw)."""
    cur.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(d, 0)) FROM unnest(%s::text[]) AS d",
        (devices,),
    )
    cur.execute(
        "SELECT device_id, seq, raw, anchor_reason FROM quarantine WHERE device_id = ANY(%s)",
        (devices,),
    )
    held_before = set()
    for device_id, seq, raw, reason in cur.fetchall():
        held_before.add((device_id, seq, bytes(raw)))
        _offer(candidates[device_id], device_id, seq, bytes(raw), reason, True, conflicts)
    return held_before


def _stored_before_runs(cur, candidates):
    """{(device_id, seq): raw} stored just before each run of consecutive seqs, and at its
    start."""
    keys_d, keys_s = [], []
    for device_id, dev in candidates.items():
        for seq in dev:
            if seq - 1 not in dev:
                keys_d += (device_id, device_id)
                keys_s += (seq - 1, seq)
    cur.execute(
        "SELECT r.device_id, r.seq, r.raw FROM unnest(%s::text[], %s::bigint[]) AS k(d, s) "
        "JOIN readings r ON r.device_id = k.d AND r.seq = k.s",
        (keys_d, keys_s),
    )
    return {(d, s): bytes(raw) for d, s, raw in cur.fetchall()}


def _judge_device(device_id, dev, stored, accepted, anchors, waiting, released):
    """Walk one device's candidates in seq order: accept those that follow the chain (or
    are anchored, or already stored), hold back the rest with the reason."""
    prev_seq = prev_link = None
    held = (None, None)  # the last seq held back and why: its successors wait too
    for seq in sorted(dev):
        raw, anchor_reason, from_quarantine = dev[seq]
        if prev_seq == seq - 1 and prev_link is not None:
            before = prev_link
        else:
            before = _link_before(device_id, seq, stored)
        why = _why_held(device_id, seq, raw, before, anchor_reason, stored, held)
        if why is None:
            if before is None and stored.get((device_id, seq)) != raw:
                anchors.append((device_id, seq, anchor_reason))
            accepted.append(stage_row(device_id, raw))
            if from_quarantine:
                released.append((device_id, seq, raw))
            prev_seq, prev_link = seq, record_link(raw)
        else:
            waiting.append((device_id, seq, raw, anchor_reason, why))
            prev_seq = prev_link = None
            held = (seq, why)


def _link_before(device_id, seq, stored):
    """The link record seq must follow, when known without this batch: genesis or stored."""
    if seq == 0:
        return genesis_link(device_id)
    if (device_id, seq - 1) in stored:
        return record_link(stored[(device_id, seq - 1)])
    return None


def _why_held(device_id, seq, raw, before, anchor_reason, stored, held):
    """None when the record is accepted, else why it is held back."""
    if before is not None:
        if chain_link(before, raw) == record_link(raw):
            return None
        return "its link does not follow seq %d (altered, inserted or forked)" % (seq - 1)
    if stored.get((device_id, seq)) == raw:
        return None  # already stored: a duplicate, whatever came before it
    if anchor_reason is not None:
        return None  # an anchor: taken with its reason
    if held[0] == seq - 1 and held[1].startswith("waiting"):
        return held[1]
    return "waiting for seq %d of %s" % (seq - 1, device_id)


def _insert_accepted(cur, accepted, counts):
    """Insert the accepted rows through staging; returns the ones that met a different
    stored record (to quarantine) and counts the stored and duplicate ones."""
    inserted = 0
    if accepted:
        with cur.copy("COPY staging FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([t for _, t in _STAGE_COLUMNS])
            for row in accepted:
                copy.write_row(row)
        cur.execute(_FROM_STAGING)
        inserted = cur.rowcount
        cur.execute("TRUNCATE staging")
    counts.stored = inserted
    if inserted >= len(accepted):
        return []
    # Some were there already: the same record (a duplicate) or another one.
    cur.execute(
        "SELECT r.device_id, r.seq, r.raw FROM unnest(%s::text[], %s::bigint[]) "
        "AS k(d, s) JOIN readings r ON r.device_id = k.d AND r.seq = k.s",
        ([r[0] for r in accepted], [r[1] for r in accepted]),
    )
    there = {(d, s): bytes(raw) for d, s, raw in cur.fetchall()}
    same = 0
    clashes = []
    for row in accepted:
        device_id, seq, raw = row[0], row[1], row[-1]
        if there.get((device_id, seq)) == raw:
            same += 1
        elif (device_id, seq) in there:
            why = "a different record with seq %d is stored" % seq
            clashes.append((device_id, seq, raw, None, why))
        else:
            why = "another record is stored for its interval start"
            clashes.append((device_id, seq, raw, None, why))
    counts.duplicates = same - inserted
    return clashes


def _quarantine(cur, waiting, held_before, counts, defer):
    """Quarantine what waits (with defer, leave those waiting for a predecessor that were
    not held before unacknowledged, in counts.deferred) and count the newly held."""
    if defer:
        later = [
            w
            for w in waiting
            if w[4].startswith("waiting for") and (w[0], w[1], w[2]) not in held_before
        ]
        counts.deferred = {(w[0], w[1]) for w in later}
        waiting = [w for w in waiting if (w[0], w[1]) not in counts.deferred]
    if waiting:
        cur.executemany(
            "INSERT INTO quarantine (device_id, seq, raw, anchor_reason, reason) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (device_id, seq, raw) "
            "DO UPDATE SET reason = excluded.reason, checked_at = now()",
            waiting,
        )
    counts.quarantined = sum(1 for w in waiting if (w[0], w[1], w[2]) not in held_before)


def _offer(dev, device_id, seq, raw, anchor_reason, from_quarantine, conflicts):
    """Add a candidate record; a second, different record with the same seq in one batch
    waits in quarantine (the first is checked against the chain)."""
    have = dev.get(seq)
    if have is None:
        dev[seq] = [raw, anchor_reason, from_quarantine]
    elif have[0] != raw:
        conflicts.append(
            (device_id, seq, raw, anchor_reason, "another record with seq %d came with it" % seq)
        )
    elif from_quarantine:
        have[2] = True  # the same record again: release its quarantined copy if it passes
        have[1] = have[1] or anchor_reason


# --- checks of the whole database (tests, `host ingest --verify`) --------------------------


def verify(conn):
    """Problems naming device and seq: CRC, a column that differs from the raw record, a gap
    in seq, a link that does not follow. An empty list: every chain is whole."""
    from shared.record import RecordError, decode

    problems = []
    anchors = {(d, s) for d, s in conn.execute("SELECT device_id, seq FROM anchors")}
    prev = (None, None, None)
    rows = conn.execute(
        "SELECT device_id, seq, extract(epoch FROM interval_start)::bigint, a_plus_mwh, "
        "a_minus_mwh, flags, raw FROM readings ORDER BY device_id, seq"
    )
    for device_id, seq, start, a_plus, a_minus, flags, raw in rows:
        raw = bytes(raw)
        try:
            rec = decode(raw)
        except RecordError as exc:
            problems.append("%s seq %d: %s" % (device_id, seq, exc))
            prev = (device_id, seq, None)
            continue
        if (rec.seq, rec.start_utc, rec.a_plus, rec.a_minus, rec.flags) != (
            seq,
            start,
            a_plus,
            a_minus,
            flags,
        ):
            problems.append("%s seq %d: a column differs from the raw record" % (device_id, seq))
        if prev[0] != device_id:
            if seq == 0:
                before = genesis_link(device_id)
            elif (device_id, seq) in anchors:
                before = None
            else:
                problems.append("%s seq %d: first stored record has no anchor" % (device_id, seq))
                before = None
        elif prev[1] != seq - 1:
            problems.append("%s seq %d..%d: missing" % (device_id, prev[1] + 1, seq - 1))
            before = None
        else:
            before = prev[2]
        if before is not None and chain_link(before, raw) != record_link(raw):
            problems.append("%s seq %d: link does not follow" % (device_id, seq))
        prev = (device_id, seq, record_link(raw))
    return problems


# --- the MQTT worker ----------------------------------------------------------------------


def connect_db(dsn, attempts=1, delay=0.5):
    import psycopg

    for attempt in range(attempts):
        try:
            return psycopg.connect(dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            if attempt == attempts - 1:
                raise IngestError(
                    "cannot connect to %s: %s" % (_safe(dsn), _first_line(exc))
                ) from None
            time.sleep(delay)
        except psycopg.Error as exc:  # not a URL or option psycopg understands
            raise IngestError(
                "%r is not a PostgreSQL URL (postgresql://USER@HOST/DB): %s"
                % (_safe(dsn), _first_line(exc))
            ) from None
    return None


def _safe(dsn):
    parts = urlsplit(dsn)
    if parts.password:
        return dsn.replace(":%s@" % parts.password, ":***@")
    return dsn


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Worker:
    """One ingest worker: run() until stop() (or forever). say(line) reports progress."""

    def __init__(self, mqtt_url, dsn, group="netmeter", client_id=None, batch=200, say=None):
        import queue

        from host.fleet.publish import broker_address

        self.host, self.port = broker_address(mqtt_url)
        self.dsn = dsn
        self.group = group
        self.client_id = client_id or "netmeter-ingest-%s" % group
        self.batch = batch
        self.say = say or (lambda line: None)
        self.inbox = queue.Queue()
        self.totals = Counts()
        self._stop = False
        self.client = None

    def stop(self):
        self._stop = True

    def _mqtt(self):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from host.fleet.payload import shared_subscription

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 7 * 24 * 3600  # a week: the broker keeps what we miss
        props.ReceiveMaximum = max(20, 2 * self.batch)
        topic = shared_subscription(self.group)

        def on_connect(client, userdata, flags, reason_code, properties):
            if not reason_code.is_failure:
                client.subscribe(topic, qos=1)
                self.say("connected to %s:%d, subscribed %s" % (self.host, self.port, topic))

        def on_message(client, userdata, msg):
            self.inbox.put((msg.mid, msg.qos, msg.topic, msg.payload))

        client.on_connect = on_connect
        client.on_message = on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                             properties=props)  # fmt: skip
        client.loop_start()
        return client

    def run(self, idle_exit=None):
        """Ingest until stop(); idle_exit: return after this many seconds with no message."""
        import queue

        from host.fleet.payload import PayloadError, decode_page

        conn = connect_db(self.dsn, attempts=30, delay=1.0)  # at start: half a minute
        ingest = Ingest(conn)
        self.client = self._mqtt()
        idle_since = time.monotonic()
        held = []  # [(message, page, first offered)]: waiting for a predecessor, not acked
        try:
            while not self._stop:
                try:
                    first = self.inbox.get(timeout=0.05 if held else 0.2)
                except queue.Empty:
                    if held:
                        counts, conn, ingest = self._store([], [], held, conn, ingest)
                        self.totals.add(counts)
                        continue
                    if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                        return self.totals
                    continue
                messages = [first]
                deadline = time.monotonic() + 0.05
                while len(messages) < self.batch:
                    try:
                        messages.append(
                            self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                        )
                    except queue.Empty:
                        break
                batch = []  # (message, page or None)
                rejected = []
                for message in messages:
                    try:
                        batch.append((message, decode_page(message[2], message[3])))
                    except PayloadError as exc:
                        rejected.append((message[2], message[3], str(exc)))
                        batch.append((message, None))
                counts, conn, ingest = self._store(batch, rejected, held, conn, ingest)
                self.totals.add(counts)
                idle_since = time.monotonic()
        finally:
            self.client.loop_stop()
            self.client.disconnect()
            conn.close()
        return self.totals

    HOLD_S = 2.0  # how long a page may wait unacknowledged for its predecessor

    def _store(self, batch, rejected, held, conn, ingest):
        """Store a batch with the held pages, defer what waits (up to HOLD_S), then PUBACK
        every message that is stored, quarantined or rejected. Retries a lost database."""
        import psycopg

        now = time.monotonic()
        offered = [(m, p, now) for m, p in batch] + held
        held.clear()
        late = [x for x in offered if x[1] is not None and now - x[2] >= self.HOLD_S]
        fresh = [x for x in offered if x[1] is not None and now - x[2] < self.HOLD_S]
        while True:
            try:
                counts = Counts()
                with conn.transaction():
                    # The pages held too long go in first, quarantined if they still wait.
                    counts.add(ingest.store([x[1] for x in late], rejected))
                    if fresh:
                        more = ingest.store([x[1] for x in fresh], defer=True)
                        counts.add(more)
                        counts.deferred = more.deferred
                break
            except psycopg.OperationalError as exc:
                self.say("database: %s; retrying" % _first_line(exc))
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - it is already broken
                    pass
                conn = connect_db(self.dsn, attempts=3600, delay=1.0)
                ingest = Ingest(conn)
        for message, page, since in offered:
            if (
                page is not None
                and counts.deferred
                and any((page.device_id, seq) in counts.deferred for seq in page.seqs())
            ):
                held.append((message, page, since))
            else:
                self.client.ack(message[0], message[1])
        return counts, conn, ingest
