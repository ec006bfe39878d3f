"""The whole path on real services: history.db -> Publisher (paho, QoS 1) -> Mosquitto ->
`host ingest` workers (processes, shared subscription) -> PostgreSQL, and the faults of the
issue. Every test ends with the database equal to the union of the devices' records, no
duplicate, no gap, every chain verified, nothing left in quarantine."""

import signal
import subprocess
import sys
import time

import fleet_services
import paho.mqtt.client as mqtt
import psycopg
import pytest
from fleet_services import chained_raws, fill_history

from host.cli import main
from host.fleet.gateway import publish_once
from host.fleet.ingest import verify
from host.fleet.payload import encode_page, records_topic
from host.fleet.publish import Publisher
from host.history import History

broker, pg = fleet_services.broker, fleet_services.pg  # fixtures
postgres_server = fleet_services.postgres_server
DEVICES = {"site-a": 1500, "site-b": 1100, "site-c": 700}
TOTAL = sum(DEVICES.values())


@pytest.fixture
def history(tmp_path):
    with History(tmp_path / "history.db") as h:
        for device_id, n in DEVICES.items():
            fill_history(h, device_id, chained_raws(device_id, n))
        yield h


class Workers:
    """`host ingest` worker processes, each with its own persistent MQTT session."""

    def __init__(self, broker_url, dsn, directory, batch=20):
        self.url, self.dsn, self.dir, self.batch = broker_url, dsn, directory, batch
        self.procs = {}

    def start(self, name):
        log = open(self.dir / ("%s.log" % name), "a")
        cmd = [sys.executable, "-m", "host", "ingest", "--mqtt", self.url, "--db", self.dsn,
               "--client-id", name, "--batch", str(self.batch)]  # fmt: skip
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def kill(self, name):
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)

    def logs(self):
        return "\n".join(p.read_text() for p in sorted(self.dir.glob("*.log")))


@pytest.fixture
def workers(broker, pg, tmp_path):
    w = Workers(broker.url, pg[1], tmp_path)
    yield w
    w.stop_all()


def count(dsn):
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    except psycopg.Error:
        return -1


def wait_count(dsn, n, timeout=60.0, during=None):
    end = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < end:
        if during is not None:
            during()
        seen = count(dsn)
        if seen >= n:
            return seen
        time.sleep(0.1)
    return seen


def wait_session(workers, names):
    """Wait until each worker has subscribed (its log says so)."""
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if workers.logs().count("subscribed $share/") >= len(names):
            return
        time.sleep(0.05)
    raise AssertionError("workers did not subscribe:\n" + workers.logs())


def assert_union(dsn, extra=""):
    with psycopg.connect(dsn) as conn:
        got = [
            (d, s, bytes(r))
            for d, s, r in conn.execute("SELECT device_id, seq, raw FROM readings ORDER BY 1, 2")
        ]
        problems = verify(conn)
        quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM rejected").fetchone()[0]
    want = sorted(
        (d, i, raw) for d, n in DEVICES.items() for i, raw in enumerate(chained_raws(d, n))
    )
    assert len(got) == len(want) == TOTAL, extra
    assert got == want, extra
    assert problems == [] and quarantined == 0 and rejected == 0, extra


def publisher_for(broker, name="gw-test", window=8, page=50):
    pub = Publisher(broker.url, name, page=page, window=window)
    return pub


def test_gateway_publishes_and_two_workers_ingest_every_record_once(broker, pg, workers, history,
                                                                     capsys):  # fmt: skip
    workers.start("w1")
    workers.start("w2")
    wait_session(workers, ["w1", "w2"])
    path = str(history.path)
    code = main(["gateway", "--db", path, "--mqtt", broker.url, "--cycles", "1",
                 "--period", "20"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "published %d records" % TOTAL in out
    assert wait_count(pg[1], TOTAL) == TOTAL, workers.logs()
    with History(path) as h:
        marks = dict(h.db.execute("SELECT device_id, seq FROM published"))
    assert marks == {d: n - 1 for d, n in DEVICES.items()}
    assert_union(pg[1], workers.logs())
    code = main(["ingest", "--db", pg[1], "--verify"])
    out, _ = capsys.readouterr()
    assert code == 0 and "%d readings, CRCs and hash chains intact; 0 in quarantine" % TOTAL in out


def test_broker_killed_and_restarted_mid_publish(broker, pg, workers, history):
    workers.start("w1")
    wait_session(workers, ["w1"])
    pub = publisher_for(broker)
    pub.start(history.devices())
    assert pub.wait_connected(5)
    handed = pub.publish_new(history)
    pub.settle(history, 0.05)  # some PUBACKs in, most pages still on the wire
    broker.kill()
    assert 0 < handed < TOTAL
    time.sleep(1.0)
    broker.start()
    total, done = publish_once(pub, history, timeout=60)
    assert done
    pub.close()
    log = (broker.dir / "mosquitto.log").read_text()
    assert wait_count(pg[1], TOTAL) == TOTAL, workers.logs() + log
    time.sleep(0.5)
    assert_union(pg[1], workers.logs())


def test_one_of_two_workers_killed_mid_batch(broker, pg, workers, history):
    workers.start("w1")
    workers.start("w2")
    wait_session(workers, ["w1", "w2"])
    pub = publisher_for(broker, window=64, page=20)
    pub.start(history.devices())
    assert pub.wait_connected(5)
    killed = []

    def kill_once():
        if not killed and count(pg[1]) > 300:
            workers.kill("w2")
            killed.append(count(pg[1]))

    deadline = time.monotonic() + 60
    while not killed and time.monotonic() < deadline:
        pub.publish_new(history)
        pub.settle(history, 0.02)
        kill_once()
    assert killed and killed[0] < TOTAL
    publish_once(pub, history, timeout=60)
    pub.close()
    workers.start("w2")  # systemd restarts it: its session gets the unacknowledged pages
    assert wait_count(pg[1], TOTAL) == TOTAL, workers.logs()
    time.sleep(0.5)
    assert_union(pg[1], workers.logs())


def test_postgres_restarted_mid_ingest(broker, pg, workers, history):
    server, dsn = pg
    workers.start("w1")
    wait_session(workers, ["w1"])
    pub = publisher_for(broker, window=64, page=20)
    pub.start(history.devices())
    assert pub.wait_connected(5)
    restarted = []
    deadline = time.monotonic() + 60
    while not restarted and time.monotonic() < deadline:
        pub.publish_new(history)
        pub.settle(history, 0.02)
        if count(dsn) > 200:
            server.restart()
            restarted.append(True)
    assert restarted
    publish_once(pub, history, timeout=60)
    pub.close()
    assert wait_count(dsn, TOTAL) == TOTAL, workers.logs()
    assert "retrying" in workers.logs()
    time.sleep(0.5)
    assert_union(dsn, workers.logs())


def test_gateway_killed_between_puback_and_watermark(broker, pg, workers, history):
    workers.start("w1")
    wait_session(workers, ["w1"])
    pub = publisher_for(broker, "gw-1")
    pub.start(history.devices())
    assert pub.wait_connected(5)
    handed = pub.publish_new(history)
    end = time.monotonic() + 10
    while not set(pub.inflight) <= set(pub.acked) and time.monotonic() < end:
        time.sleep(0.01)
    assert len(pub.inflight) == 8 and set(pub.inflight) <= set(pub.acked)  # every PUBACK in
    pub.client.disconnect()  # ... and the process dies before it writes the watermark
    pub.client.loop_stop()
    marks = history.db.execute("SELECT count(*) FROM published").fetchone()[0]
    assert handed == 8 * 50 and marks == 0
    again = publisher_for(broker, "gw-1")  # the restarted gateway, same session
    again.start(history.devices())
    assert again.wait_connected(5)
    total, done = publish_once(again, history, timeout=60)
    again.close()
    assert done and total == TOTAL  # from the watermark: the 400 records again, then the rest
    assert wait_count(pg[1], TOTAL) == TOTAL, workers.logs()
    time.sleep(1.0)
    assert_union(pg[1], workers.logs())
    with psycopg.connect(pg[1]) as conn:
        late = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    assert late == TOTAL


def raw_publisher(broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def test_a_page_published_twice_and_pages_out_of_order(broker, pg, workers):
    workers.start("w1")
    workers.start("w2")
    wait_session(workers, ["w1", "w2"])
    client = raw_publisher(broker)
    messages = []
    for device_id, n in DEVICES.items():
        raws = chained_raws(device_id, n)
        messages += [(device_id, raws[i : i + 100]) for i in range(0, n, 100)]
    messages.reverse()  # newest first: every page but the first of a device waits
    messages[5:5] = messages[:5]  # five pages twice while they wait
    for device_id, raws in messages:
        page = encode_page(device_id, raws)
        client.publish(records_topic(device_id), page, qos=1).wait_for_publish(5)
    assert wait_count(pg[1], TOTAL) == TOTAL, workers.logs()
    for device_id, raws in messages[:5]:  # and again once they are stored
        page = encode_page(device_id, raws)
        client.publish(records_topic(device_id), page, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    time.sleep(1.0)
    assert_union(pg[1], workers.logs())
    # The workers said what they did when they stop: duplicates counted, nothing lost.
    workers.stop_all()
    summary = [line for line in workers.logs().splitlines() if line.startswith("stored ")]
    assert len(summary) == 2
    stored = sum(int(line.split()[1].rstrip(",")) for line in summary)
    duplicates = sum(int(line.split()[3].rstrip(",")) for line in summary)
    assert stored == TOTAL and duplicates == 1000, summary  # 5 pages x 100, 2 extra copies
