"""The fleet path measured: a simulated fleet's records published through Mosquitto (QoS 1,
pages of 96) and ingested into PostgreSQL by 1, 2 and 4 `host ingest` workers, beside a plain
binary COPY of the same rows into the same table (the database's own limit), in one run.

Run: make bench-fleet  (or .venv/bin/python bench/bench_fleet.py [--devices 1000]
[--records 2880] [--workers 1,2,4])

Stages, each in records/s: build (the real codec and chain), encode (payload pages), decode
(payload pages back, every record checked), ingest-store (decode + Ingest.store in one
process, no MQTT), COPY, and end to end (publisher process -> broker -> N worker processes ->
PostgreSQL committed), with the exact counts checked at the end.
"""

import argparse
import functools
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import psycopg  # noqa: E402
from fleet_services import Mosquitto, Postgres, chained_raws  # noqa: E402

from host.fleet.ingest import Ingest, create_schema, stage_row, verify  # noqa: E402
from host.fleet.payload import decode_page, encode_page, records_topic  # noqa: E402

PAGE = 96
print = functools.partial(print, flush=True)  # noqa: A001 - figures as they come
FLEET = []  # [(device_id, raws)], built before the processes fork


def build_one(args):
    device_id, n = args
    return device_id, chained_raws(device_id, n, seed=3)


def build(devices, n):
    ids = [("dev-%05d" % i, n) for i in range(devices)]
    with multiprocessing.Pool(os.cpu_count() or 2) as pool:
        return pool.map(build_one, ids, chunksize=16)


def rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


def publisher(url, window, done):
    """Encode and publish every page of FLEET at QoS 1, at most `window` unacknowledged."""
    import threading

    import paho.mqtt.client as mqtt

    from host.fleet.publish import broker_address

    host, port = broker_address(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(window)
    free = threading.Semaphore(window)
    client.on_publish = lambda *a: free.release()
    client.connect(host, port)
    client.loop_start()
    # Page k of every device, then page k+1: a fleet's gateways publish side by side, each
    # its own devices in order (one gateway's backlog alone would be pages of one device in
    # a row, which the shared subscription deals out to the workers in turn).
    for i in range(0, max(len(raws) for _, raws in FLEET), PAGE):
        for device_id, raws in FLEET:
            if i < len(raws):
                payload = encode_page(device_id, raws[i : i + PAGE])
                free.acquire()
                client.publish(records_topic(device_id), payload, qos=1)
    for _ in range(window):
        free.acquire()
    done.value = time.monotonic()
    client.loop_stop()
    client.disconnect()


def worker(url, dsn, name, group, batch):
    from host.fleet.ingest import Worker

    Worker(url, dsn, group=group, client_id=name, batch=batch).run(idle_exit=20.0)


def count(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


def end_to_end(broker, pg, workers, total, batch):
    dsn = pg.new_database("bench_e2e_%d" % workers)
    with psycopg.connect(dsn) as conn:
        create_schema(conn)
    procs = [
        multiprocessing.Process(
            # A group per run: the last run's worker sessions persist on the broker and
            # would keep their share of a shared group (docs/fleet.md, "Workers").
            target=worker,
            args=(broker.url, dsn, "bench-w%d-%d" % (workers, i), "bench%d" % workers, batch),
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)  # the workers connect and subscribe before the first page
    done = multiprocessing.Value("d", 0.0)
    start = time.monotonic()
    pub = multiprocessing.Process(target=publisher, args=(broker.url, 64, done))
    pub.start()
    n = 0
    while n < total:
        time.sleep(0.5)
        n = count(dsn)
        if not pub.is_alive() and pub.exitcode:
            raise SystemExit("publisher failed")
        if time.monotonic() - start > 3600 or not any(p.is_alive() for p in procs):
            break
    end = time.monotonic()
    pub.join()
    for p in procs:
        p.join()
    with psycopg.connect(dsn) as conn:
        rows, devices, dupes = conn.execute(
            "SELECT count(*), count(DISTINCT device_id), "
            "count(*) - count(DISTINCT (device_id, seq)) FROM readings"
        ).fetchone()
        quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        problems = verify(conn) if workers == max(ARGS.workers) else None
    return {
        "publish_s": done.value - start,
        "e2e_s": end - start,
        "rows": rows,
        "devices": devices,
        "dupes": dupes,
        "quarantined": quarantined,
        "problems": problems,
    }


COPY_TYPES = ["text", "bigint", "timestamptz", "timestamptz", "smallint", "smallint", "integer"]
COPY_TYPES += ["bigint"] * 9 + ["bytea", "bytea"]
COPY_SQL = (
    "COPY readings (device_id, seq, interval_start, interval_end, interval_min, source, flags, "
    "a_plus_mwh, a_minus_mwh, net_mwh, q1_mvarh, q2_mvarh, q3_mvarh, q4_mvarh, pulses_import, "
    "pulses_export, link, raw) FROM STDIN (FORMAT BINARY)"
)


def figure(label, n, started, note=None):
    """Print one stage's records/s since perf_counter() was `started`; returns the rate."""
    r = rate(n, time.perf_counter() - started)
    print("%-38s %9.0f records/s%s" % (label, r, "  (%s)" % note if note else ""))
    return r


def paged(raws):
    return [raws[i : i + PAGE] for i in range(0, len(raws), PAGE)]


def plain_copy(dsn, total):
    """The same rows, binary COPY, straight into the same empty table, one transaction."""
    import datetime

    utc = datetime.UTC
    with psycopg.connect(dsn) as conn:
        create_schema(conn)
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            copy.set_types(COPY_TYPES)
            for device_id, raws in FLEET:
                for raw in raws:
                    row = stage_row(device_id, raw)
                    start = datetime.datetime.fromtimestamp(row[2], utc)
                    end = datetime.datetime.fromtimestamp(row[2] + row[3], utc)
                    copy.write_row((row[0], row[1], start, end, *row[4:]))
        conn.commit()
        return figure("COPY into readings (1 transaction)", total, t)


def store_only(dsn, batch, copy_rate):
    """decode + verify + Ingest.store in this process, no MQTT, a tenth of the fleet."""
    part = FLEET[: max(1, len(FLEET) // 10)]
    n = sum(len(r) for _, r in part)
    msgs = [(records_topic(d), encode_page(d, page)) for d, raws in part for page in paged(raws)]
    with psycopg.connect(dsn) as conn:
        ingest = Ingest(conn)
        t = time.perf_counter()
        for i in range(0, len(msgs), batch):
            ingest.store([decode_page(topic, payload) for topic, payload in msgs[i : i + batch]])
        elapsed = time.perf_counter() - t
    r = rate(n, elapsed)
    print("%-38s %9.0f records/s  (%.0f %% of COPY)"
          % ("decode + verify + store (1 process)", r, 100 * r / copy_rate))  # fmt: skip


def main():
    global FLEET, ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--records", type=int, default=2880)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--batch", type=int, default=50, help="messages per transaction")
    ARGS = parser.parse_args()
    ARGS.workers = [int(w) for w in ARGS.workers.split(",")]
    total = ARGS.devices * ARGS.records
    print("fleet: %d devices x %d records = %d records, %d cores"
          % (ARGS.devices, ARGS.records, total, os.cpu_count()))  # fmt: skip

    t = time.perf_counter()
    FLEET = build(ARGS.devices, ARGS.records)
    figure("build (codec + chain, %d processes)" % os.cpu_count(), total, t)
    sample = FLEET[:20]
    n_sample = sum(len(r) for _, r in sample)
    t = time.perf_counter()
    pages = [
        (records_topic(d), encode_page(d, page)) for d, raws in sample for page in paged(raws)
    ]
    size = sum(len(p) for _, p in pages) / n_sample
    figure("encode pages (1 core)", n_sample, t, "%.0f bytes per record" % size)
    t = time.perf_counter()
    for topic, payload in pages:
        decode_page(topic, payload)
    figure("decode + check pages (1 core)", n_sample, t)

    dirs = [Path(tempfile.mkdtemp(prefix="bench-fleet-")) for _ in range(2)]
    broker = Mosquitto(dirs[0], autosave=False).start()
    pg = Postgres(dirs[1], fsync=True).init().start()
    try:
        copy_rate = plain_copy(pg.new_database("bench_copy"), total)
        store_only(pg.new_database("bench_store"), ARGS.batch, copy_rate)
        for workers in ARGS.workers:
            r = end_to_end(broker, pg, workers, total, ARGS.batch)
            exact = (r["rows"], r["devices"], r["dupes"], r["quarantined"]) == (
                total,
                ARGS.devices,
                0,
                0,
            )
            e2e = rate(total, r["e2e_s"])
            notes = [
                "%.0f %% of COPY" % (100 * e2e / copy_rate),
                "publish %.0f records/s" % rate(total, r["publish_s"]),
                "rows %d of %d, duplicates %d, quarantined %d"
                % (r["rows"], total, r["dupes"], r["quarantined"]),
            ]
            if not exact:
                notes.append("NOT EXACT")
            if r["problems"] is not None:
                notes.append("chains verified: %d problems" % len(r["problems"]))
            label = "end to end, %d worker%s" % (workers, "s" if workers > 1 else "")
            print("%-38s %9.0f records/s  (%s)" % (label, e2e, "; ".join(notes)))
    finally:
        broker.kill()
        pg.stop("immediate")
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
