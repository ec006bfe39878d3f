"""The `host` commands end to end on the simulated board over its console pty: deploy with a
new link key, config push (and every kind of invalid config refused, the old one kept), a
simulated stretch of a day synced into history.db and checked against the meter's truth,
unplugged mid-sync again and again, refused unauthenticated and replayed changes, and the
one-line errors for ports."""

import json
import os
import random
import stat
import time

import pytest
import serial

import host.sim.run
from host.cli import main
from host.history import History
from host.link import DeviceError, Link, open_serial
from host.sim.meter import SimMeter
from host.sim.run import Simulation
from host.sim.site import HOUR_MS, SiteConfig
from shared import linkproto as lp
from shared.frame import Decoder
from tests.conftest import run_host as run

UJ_PER_WH = 3_600_000_000
DEVICE_ID = "sim-1"
CONFIG = {
    "device_id": DEVICE_ID,
    "poll_period_s": 30,
    "rs485": {"baud": 115200},
    "meter": {"MAP": "generic"},
    "netting": {"sources": ["registers", "power"], "billing": "registers", "interval_min": 5},
}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A board deployed by `host deploy` (firmware, config and a new key), run for a whole
    simulated PV day (288 five-minute intervals)."""
    root = tmp_path_factory.mktemp("hostboard")
    keys = root / "keys"
    config_file = root / "site.json"
    config_file.write_text("// the simulated site\n" + json.dumps(CONFIG, indent=1))
    deployed = []

    def deploy_with_the_cli(device, board_name, config):
        argv = ["deploy", "--device", device, "--board", board_name, "--config", str(config_file)]
        code = main(argv + ["--key-dir", str(keys)])
        assert code == 0
        deployed.append(device)

    original = host.sim.run.deploy
    host.sim.run.deploy = deploy_with_the_cli
    start = 0
    sim = Simulation(root / "board", CONFIG, SimMeter(SiteConfig(seed=7)), start_ms=start)
    try:
        sim.start()
        host.sim.run.deploy = original
        assert deployed == [sim.board.device]
        sim.run(start + 24 * HOUR_MS, 30_000)
        yield sim, root, keys
    finally:
        host.sim.run.deploy = original
        sim.stop()


def board_args(sim, keys):
    return ["--device", sim.board.device, "--key-dir", str(keys)]


def register_wh(meter, t):
    truth = meter.truth_at(t).vector
    return truth.a_plus // UJ_PER_WH, truth.a_minus // UJ_PER_WH


def test_deploy_provisions_a_per_device_key_on_the_board_and_the_host(board):
    sim, _, keys = board
    path = keys / ("%s.key" % DEVICE_ID)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = bytes.fromhex(path.read_text().strip())
    assert len(key) == 32 and key != bytes(32)
    assert (sim.dir / "link.key").read_text().strip() == key.hex()
    with Link.open(sim.board.device) as link:
        info = link.info()
    assert info["device_id"] == DEVICE_ID and info["has_key"]


def test_invalid_configs_of_every_kind_are_refused_and_the_old_one_stays(board, capsys):
    sim, root, keys = board
    before = (sim.dir / "config.json").read_bytes()
    key = bytes.fromhex((keys / ("%s.key" % DEVICE_ID)).read_text())
    bad = [
        ({"poll_period_s": 7}, "poll_period_s = 7"),
        ({"netting": {"interval_min": 7}}, "netting.interval_min = 7"),
        ({"netting": {"sources": ["wind"]}}, "netting.sources = 'wind'"),
        ({"rs485": {"baud": 12}}, "rs485.baud = 12"),
        ({"timeout_ms": 99999}, "timeout_ms = 99999: must be an integer in 10..10000"),
        ({"device_id": "no spaces"}, "device_id = 'no spaces'"),
        ({"colour": "red"}, "colour is not a setting"),
        ({"meter": {"MAP": "nosuchmeter"}}, "nosuchmeter"),
    ]
    with Link.open(sim.board.device, key=key) as link:
        info = link.info()
        for cfg, message in bad:
            # Straight to the device, past the host's own check: the device must refuse too.
            with pytest.raises(DeviceError, match="invalid: .*%s" % message[:12]):
                link.request(lp.PUT_CONFIG, json.dumps(dict(CONFIG, **cfg)).encode())
            path = root / "bad.json"
            path.write_text(json.dumps(dict(CONFIG, **cfg)))
            code, _, err = run(capsys, "config", "push", path, *board_args(sim, keys))
            assert code == 1 and message in err and err.startswith("host: bad.json: ")
        after = link.info()
        assert link.get_config() == json.loads(before)
    assert (sim.dir / "config.json").read_bytes() == before
    assert not after["config_pending"] and after["config_hash"] == info["config_hash"]
    assert after["counter"] == info["counter"] + len(bad)  # the host never sent the files


def test_config_push_installs_a_valid_file_for_the_next_boot(board, capsys):
    sim, root, keys = board
    path = root / "new.toml"
    path.write_text(
        'poll_period_s = 15\ntimeout_ms = 300\n[rs485]\nbaud = 115200\n[meter]\nMAP = "generic"\n'
        '[netting]\ninterval_min = 5\nsources = ["registers", "power"]\nbilling = "registers"\n'
    )
    code, out, err = run(capsys, "config", "push", path, *board_args(sim, keys))
    assert code == 0, err
    assert "takes effect when the board restarts" in out
    installed = json.loads((sim.dir / "config.json").read_text())
    assert installed["timeout_ms"] == 300 and installed["device_id"] == DEVICE_ID
    code, out, _ = run(capsys, "status", *board_args(sim, keys))
    assert code == 0 and "new config waiting for a reboot" in out and DEVICE_ID in out
    code, out, _ = run(capsys, "config", "pull", *board_args(sim, keys), "--out", root / "p.json")
    assert "timeout_ms" not in json.loads((root / "p.json").read_text())  # the running one


def test_sync_matches_the_board_store_and_the_meter_truth(board, capsys):
    sim, root, keys = board
    db = root / "history.db"
    records = sim.records()  # before the sync: its ACK lets the board delete old segments
    code, out, err = run(capsys, "sync", *board_args(sim, keys), "--db", db)
    assert code == 0, err
    assert len(records) == 288
    assert [r.seq for r in sim.records()] == list(range(192, 288))  # acked segment deleted
    assert "stored 288 records, seq 0..287" in out and "acknowledged up to seq 287" in out
    assert "288/288 records" in err
    with History(db) as history:
        rows = list(history.rows(DEVICE_ID))
        raws = [bytes(r[0]) for r in history.db.execute("SELECT raw FROM records ORDER BY seq")]
    assert raws == [r.encode() for r in records]
    for row, rec in zip(rows, records, strict=True):
        t0, t1 = sim.meter_time(rec)
        (imp0, exp0), (imp1, exp1) = register_wh(sim.meter, t0), register_wh(sim.meter, t1)
        assert (row["a_plus"], row["a_minus"]) == ((imp1 - imp0) * 1000, (exp1 - exp0) * 1000)
    assert sum(r["a_minus"] for r in rows) > 0  # midday: PV exports
    code, out, _ = run(capsys, "verify", "--db", db)
    assert code == 0 and "288 records, CRCs and hash chains intact" in out


class Unplugging:
    """The board's serial port, pulled out after `budget` bytes have crossed it."""

    def __init__(self, port, budget):
        self.port = port
        self.budget = budget

    def _spend(self, n):
        self.budget -= n
        if self.budget < 0:
            self.port.close()
            raise serial.SerialException(
                "device reports readiness to read but returned no data (device disconnected?)"
            )

    def read(self, n):
        data = self.port.read(n)
        if data:
            self._spend(len(data))
        return data

    def write(self, data):
        cut = max(0, min(len(data), self.budget))
        if cut < len(data):
            self.port.write(data[:cut])  # half a frame reaches the board
        self._spend(len(data))
        return self.port.write(data)

    def close(self):
        self.port.close()


def test_unplugged_mid_sync_24_times_loses_and_duplicates_nothing(board, capsys):
    sim, root, keys = board
    db = root / "unplugged.db"
    rng = random.Random(6)
    interrupted = stored_between = rounds = 0
    while interrupted < 24 and rounds < 40:
        rounds += 1
        sim.run(sim.now_ms + 15 * 60_000, 30_000)  # three more records each round
        with History(db) as history:
            head = history.head(DEVICE_ID)
        backlog = sim.records()[-1].seq + 1 - (head[0] + 1 if head else 0)
        # On the wire INFO is ~0.4 KB, a page of 13 records ~1.4 KB, the ACK ~0.1 KB: a cut
        # anywhere in what this sync needs lands in INFO, in a page, between a commit and
        # the ACK, or in the ACK.
        needed = 900 + 1400 * -(-backlog // 13)
        port = Unplugging(open_serial(sim.board.device), rng.randrange(0, needed))
        link = Link(port, timeout=1.0, name=sim.board.device)
        code, _, err = run(capsys, "sync", *board_args(sim, keys), "--db", db, link=link)
        port.close()
        if code:
            interrupted += 1
            assert err.strip().splitlines()[-1].startswith("host: lost the connection to ")
        with History(db) as history:
            n = history.count()
            stored_between += n > 0
            assert history.verify() == []  # every interrupted state is a clean prefix
    assert interrupted == 24 and stored_between >= 20  # and syncs made progress between cuts
    code, out, err = run(capsys, "sync", *board_args(sim, keys), "--db", db)
    assert code == 0, err
    records = sim.records()
    with History(db) as history:
        seqs = [r[0] for r in history.db.execute("SELECT seq FROM records ORDER BY seq")]
        raws = [bytes(r[0]) for r in history.db.execute("SELECT raw FROM records ORDER BY seq")]
        assert history.verify() == []
    # The board deletes acknowledged segments, so it may hold only the newest records now.
    assert seqs == list(range(seqs[0], records[-1].seq + 1))  # no gap, no duplicate
    by_seq = dict(zip(seqs, raws, strict=True))
    assert all(by_seq[r.seq] == r.encode() for r in records)
    assert "acknowledged up to seq %d" % records[-1].seq in out


def test_unauthenticated_and_replayed_changes_are_refused(board, capsys):
    sim, root, keys = board
    wrong = root / "wrong.key"
    wrong.write_text(os.urandom(32).hex())
    wrong.chmod(0o600)
    code, _, err = run(capsys, "reset-net", "--device", sim.board.device, "--key", wrong)
    assert code == 1 and "RESET_NET refused: authentication failed" in err
    code, _, err = run(capsys, "time", "sync", "--device", sim.board.device,
                       "--key-dir", root / "empty")  # fmt: skip
    assert code == 1 and "no link key for device sim-1" in err
    wrong.chmod(0o644)
    code, _, err = run(capsys, "reset-net", "--device", sim.board.device, "--key", wrong)
    assert code == 1 and "readable by group or others" in err

    key = bytes.fromhex((keys / ("%s.key" % DEVICE_ID)).read_text())

    class Recording:
        def __init__(self, port):
            self.port, self.sent = port, []

        def write(self, data):
            self.sent.append(bytes(data))
            return self.port.write(data)

        def read(self, n):
            return self.port.read(n)

        def close(self):
            self.port.close()

    port = Recording(open_serial(sim.board.device))
    with Link(port, key=key) as link:
        link.ack(0)
        captured = port.sent[-1]  # a genuine signed ACK
        link.ack(0)  # a later one: the captured counter is now stale
        counter = link.info()["counter"]
        port.port.write(captured)  # the replay
        decoder, replies = Decoder(), []
        deadline = time.monotonic() + 3
        while not replies and time.monotonic() < deadline:
            time.sleep(0.05)
            replies = [e for e in decoder.feed(port.port.read(4096) or b"") if e.is_response]
        assert replies and replies[0].code & 0x7F == lp.E_REPLAY
        assert link.info()["counter"] == counter


def test_status_log_trace_and_config_pull(board, capsys):
    sim, _, keys = board
    code, out, _ = run(capsys, "status", *board_args(sim, keys))
    assert code == 0 and "device   sim-1 (unix_sim" in out and "records  " in out
    assert "L1       P " in out
    code, out, _ = run(capsys, "trace", *board_args(sim, keys), "-n", "4")
    lines = [ln for ln in out.splitlines() if not ln.startswith("#")]
    assert code == 0 and lines[0].split() == ["start", "s", "dir", "bytes", "data", "(hex)"]
    rows = [ln.split() for ln in lines[1:]]
    assert len(rows) == 4 and {"tx", "rx"} <= {row[1] for row in rows}
    assert all(int(row[2]) * 2 == len(row[3]) for row in rows)
    code, out, _ = run(capsys, "log", *board_args(sim, keys))
    assert code == 0 and out
    code, out, _ = run(capsys, "config", "pull", *board_args(sim, keys))
    assert code == 0 and json.loads(out)["device_id"] == DEVICE_ID


def test_time_sync_and_reset_net_are_signed_commands_that_work(board, capsys):
    sim, root, keys = board
    code, out, err = run(capsys, "reset-net", *board_args(sim, keys))
    assert code == 0 and "net register reset" in out, err
    code, out, err = run(capsys, "time", "sync", *board_args(sim, keys))
    assert code == 0 and out.startswith("clock set: stepped by "), err
    code, out, err = run(capsys, "sync", *board_args(sim, keys), "--db", root / "history.db",
                         "--set-time")  # fmt: skip
    assert code == 0 and "clock set: stepped by" in out, err


def test_port_errors_are_one_line(board, tmp_path, capsys):
    sim, _, _ = board
    code, _, err = run(capsys, "status", "--device", tmp_path / "ttyACM9")
    assert code == 1 and err.startswith("host: ") and "does not exist" in err
    assert err.count("\n") == 1
    holder = open_serial(sim.board.device)
    try:
        code, _, err = run(capsys, "status", "--device", sim.board.device)
        assert code == 1 and "in use by another program" in err
    finally:
        holder.close()
    master, slave = os.openpty()
    try:
        code, _, err = run(capsys, "status", "--device", os.ttyname(slave), "--timeout", "0.1")
        assert code == 1 and "no netmeter firmware answering" in err
    finally:
        os.close(master)
        os.close(slave)


def test_config_push_never_drops_a_setting_the_device_has_unless_told(board, capsys):
    # Seen: a file without rs485 and meter removed the baud rate and the meter map.
    sim, root, keys = board
    path = root / "partial.json"
    path.write_text(json.dumps({"poll_period_s": 30, "netting": CONFIG["netting"]}))
    before = (sim.dir / "config.json").read_bytes()
    with Link.open(sim.board.device) as link:
        counter = link.info()["counter"]
    code, out, err = run(capsys, "config", "push", path, *board_args(sim, keys))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert (
        'partial.json leaves out settings the device has (meter.MAP = "generic", '
        "rs485.baud = 115200): add them to partial.json, or give --remove" in err
    )
    code, out, err = run(capsys, "config", "push", path, *board_args(sim, keys),
                         "--remove", "--dry-run")  # fmt: skip
    assert code == 0, err
    assert "changes on sim-1 (effective settings, defaults included):" in out
    assert (
        "rs485.baud                   115200 -> 9600 (default)   (removed from the config)" in out
    )
    assert (
        'meter.MAP                    "generic" -> "generic" (default)   (removed from the config)'
        in out
    )
    assert "poll_period_s" not in out and out.endswith("dry run: nothing sent\n")
    assert (sim.dir / "config.json").read_bytes() == before
    with Link.open(sim.board.device) as link:
        assert link.info()["counter"] == counter  # nothing signed was sent
    code, out, err = run(capsys, "config", "push", path, *board_args(sim, keys), "--remove")
    assert code == 0 and "takes effect when the board restarts" in out, err
    installed = json.loads((sim.dir / "config.json").read_text())
    assert "rs485" not in installed and "meter" not in installed
    assert installed["device_id"] == DEVICE_ID and installed["board"] == "unix_sim"


def test_config_set_changes_single_settings_and_keeps_the_rest(board, capsys):
    sim, _, keys = board
    with Link.open(sim.board.device) as link:
        running = link.get_config()
        counter = link.info()["counter"]
    code, out, err = run(capsys, "config", "set", "poll_period_s=30", *board_args(sim, keys))
    assert code == 0 and out == "no change: sim-1 already runs with these settings\n", err
    code, out, err = run(capsys, "config", "set", "netting.interval_min=7", *board_args(sim, keys))
    assert code == 1 and "config set: netting.interval_min = 7: allowed 1, 5, 10" in err
    with Link.open(sim.board.device) as link:
        assert link.info()["counter"] == counter
    code, out, err = run(capsys, "config", "set", "poll_period_s=15", "rs485.baud=19200",
                         "netting.summation=arithmetic", *board_args(sim, keys))  # fmt: skip
    assert code == 0, err
    assert "  poll_period_s                30 -> 15\n" in out
    assert "  rs485.baud                   115200 -> 19200\n" in out
    assert '  netting.summation            "vector" (default) -> "arithmetic"\n' in out
    installed = json.loads((sim.dir / "config.json").read_text())
    want = json.loads(json.dumps(running))
    want["poll_period_s"] = 15
    want["rs485"]["baud"] = 19200
    want["netting"]["summation"] = "arithmetic"
    assert installed == want


def test_after_a_cut_without_a_battery_clock_host_sync_sets_the_clock_and_one_record_follows(
    tmp_path, capsys
):
    # A board of its own (the module's board had its clock stepped by a year above). It
    # comes back from a cut with its clock unset (reading 2021-01-01), holds its readings,
    # and `host sync` sets the clock by itself.
    import shutil

    from host.conformance.simulated import staged_firmware
    from shared.record import CLOCK_ADJUSTED, POWER_DOWN

    directory = tmp_path / "board"
    directory.mkdir()
    fw = staged_firmware()
    shutil.copytree(fw / "lib", directory / "lib")
    shutil.copy(fw / "main.py", directory / "main.py")
    (directory / "config.json").write_text(json.dumps(dict(CONFIG, board="unix_sim")))
    key = os.urandom(32)
    (directory / "link.key").write_text(key.hex() + "\n")
    key_file = tmp_path / "sim-1.key"
    key_file.write_text(key.hex() + "\n")
    key_file.chmod(0o600)
    args = ["--device", None, "--key", key_file]
    sim = Simulation(directory, CONFIG, SimMeter(SiteConfig(seed=7)), start_ms=10 * HOUR_MS)
    try:
        sim.start(deploy_firmware=False)
        args[1] = sim.board.device
        sim.run(sim.now_ms + HOUR_MS, 30_000)
        last = sim.records()[-1]
        sim.power_cut(2 * HOUR_MS, clock_set=False)
        sim.run(sim.now_ms + 20 * 60_000, 30_000)  # 20 minutes held: nothing closes
        assert sim.records()[-1].seq == last.seq
        code, out, _ = run(capsys, "status", *args)
        assert code == 0 and "clock    NOT SET: readings are held" in out
        code, out, err = run(capsys, "sync", *args, "--db", tmp_path / "h.db")
        assert code == 0, err
        assert "clock was not set (the board restarted without a clock): set to this" in out
        assert "warning" not in err
        sim.clock_known()  # the simulator's frame follows the board's clock back to true time
        sim.run(sim.now_ms + 30 * 60_000, 30_000)
        cut = [r for r in sim.records() if r.seq > last.seq]  # (the sync's ACK deleted older)
        assert cut[0].flags & POWER_DOWN and cut[0].flags & CLOCK_ADJUSTED
        # one record from the interval open at the cut to the boundary after the clock set
        t0, t1 = sim.meter_time(cut[0])
        assert t1 - t0 > 2 * HOUR_MS + 20 * 60_000 and t1 % (5 * 60_000) == 0
        assert t0 == sim.meter_time(last)[1]  # no hole, no overlap
        assert not any(r.flags & POWER_DOWN for r in cut[1:]) and len(cut) >= 5
        end = sim.meter_time(cut[-1])[1]
        (imp0, exp0), (imp1, exp1) = register_wh(sim.meter, t0), register_wh(sim.meter, end)
        assert sum(r.a_plus for r in cut) == (imp1 - imp0) * 1000  # exact, outage included
        assert sum(r.a_minus for r in cut) == (exp1 - exp0) * 1000
    finally:
        sim.stop()
