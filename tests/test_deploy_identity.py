"""A deploy keeps the identity a board already has, read from the board before anything is
overwritten (host/identity.py), refuses to strand unsynced records under a new id, and never
proceeds on a read that failed. On the simulated board with the real mpremote."""

import json
import os
import threading
import tty

import pytest

from host.history import History
from host.sim.meter import SimMeter
from host.sim.run import Simulation
from tests.conftest import run_host as run

CONFIG = {
    "device_id": "site-a",
    "poll_period_s": 30,
    "rs485": {"baud": 115200},
    "netting": {"sources": ["registers"], "billing": "registers", "interval_min": 5},
}


def snapshot(directory):
    """Every file the deploy could touch, by path: what a refused deploy must leave alone."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "unix_sim.json" not in path.name:
            out[str(path.relative_to(directory))] = path.read_bytes()
    return out


def write_site(directory):
    """The site's config file as an installer keeps it: no device_id."""
    path = directory / "site.json"
    path.write_text(json.dumps({k: v for k, v in CONFIG.items() if k != "device_id"}))
    return path


@pytest.fixture
def site(tmp_path):
    sim = Simulation(tmp_path / "board", CONFIG, SimMeter())
    sim.start()
    try:
        sim.run(30 * 60_000, 30_000)  # six five-minute records under "site-a"
        yield sim, tmp_path
    finally:
        sim.stop()


def test_a_read_that_failed_stops_the_deploy_with_one_line(tmp_path, capsys):
    """The board resets as mpremote talks to it: its USB serial goes away."""
    master, slave = os.openpty()
    tty.setraw(slave)

    def reset_on_first_byte():
        os.read(master, 1)
        os.close(master)

    threading.Thread(target=reset_on_first_byte, daemon=True).start()
    keys = tmp_path / "keys"
    try:
        code, out, err = run(capsys, "deploy", "--device", os.ttyname(slave), "--board",
                             "unix_sim", "--key-dir", keys)  # fmt: skip
    finally:
        os.close(slave)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "could not read the board's identity" in err
    assert "nothing was changed" in err
    assert not keys.exists()  # no key was made for an identity nobody read


def test_a_redeploy_without_an_id_keeps_the_boards_id_and_its_records_stay_syncable(site, capsys):
    sim, root = site
    plain = root / "plain.json"  # a site file without device_id, as an installer writes it
    plain.write_text(json.dumps({k: v for k, v in CONFIG.items() if k != "device_id"}))
    keys = root / "keys"
    code, out, err = run(capsys, "deploy", "--device", sim.board.device, "--board", "unix_sim",
                         "--config", plain, "--key-dir", keys)  # fmt: skip
    assert code == 0, err
    assert "device site-a: new link key" in out  # this host had no key for it
    assert json.loads((sim.dir / "config.json").read_text())["device_id"] == "site-a"
    key = (keys / "site-a.key").read_text()
    code, out, err = run(capsys, "deploy", "--device", sim.board.device, "--board", "unix_sim",
                         "--config", plain, "--key-dir", keys)  # fmt: skip
    assert code == 0 and "device site-a: kept its link key" in out, err
    assert (keys / "site-a.key").read_text() == key
    code, out, err = run(capsys, "deploy", "--device", sim.board.device, "--board", "unix_sim",
                         "--config", plain, "--key-dir", keys, "--new-key")  # fmt: skip
    assert code == 0 and "device site-a: new link key" in out, err
    assert (keys / "site-a.key").read_text() != key
    assert (sim.dir / "link.key").read_text() == (keys / "site-a.key").read_text()
    sim.power_cut(0)  # the reset that starts the new firmware
    sim.run(sim.now_ms + 15 * 60_000, 30_000)
    db = root / "history.db"
    code, out, err = run(capsys, "sync", "--device", sim.board.device, "--key-dir", keys,
                         "--db", db)  # fmt: skip
    assert code == 0, err
    with History(db) as history:
        assert history.count("site-a") == len(sim.records()) >= 9
        assert history.verify() == []


def test_changing_the_id_over_unsynced_records_is_refused_and_changes_nothing(site, capsys):
    sim, root = site
    before = snapshot(sim.dir)
    code, out, err = run(capsys, "deploy", "--device", sim.board.device, "--board", "unix_sim",
                         "--device-id", "site-b", "--key-dir", root / "keys")  # fmt: skip
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "6 unsynced records" in err and "'site-a'" in err and "'site-b'" in err
    assert "host sync --device" in err and "--force" in err
    assert snapshot(sim.dir) == before
    assert not (root / "keys").exists()


def test_a_board_deployed_without_any_id_keeps_the_id_its_chain_proves(tmp_path, capsys):
    """No device_id in its config: the firmware chains under the board's name; a redeploy
    finds that id from seq 0's link and keeps it."""
    config = {k: v for k, v in CONFIG.items() if k != "device_id"}
    sim = Simulation(tmp_path / "board", config, SimMeter())
    sim.start()
    try:
        sim.run(10 * 60_000, 30_000)
        code, out, err = run(capsys, "deploy", "--device", sim.board.device, "--board",
                             "unix_sim", "--key-dir", tmp_path / "keys")  # fmt: skip
        assert code == 0, err
        assert json.loads((sim.dir / "config.json").read_text())["device_id"] == "unix_sim"
    finally:
        sim.stop()


def test_renames_with_and_without_syncs_end_with_every_record_verified(tmp_path, capsys):
    """Records under site-a; a rename refused; a redeploy without an id; a sync; a rename
    to site-b (nothing unsynced), more records; a forced rename to site-c over unsynced
    site-b records. Every sync stores only what it proves, nothing twice, and verify passes."""
    keys, db = tmp_path / "keys", tmp_path / "history.db"
    site = write_site(tmp_path)

    def deploy(*extra):
        return run(capsys, "deploy", "--device", sim.board.device, "--board", "unix_sim",
                   "--key-dir", keys, "--config", site, *extra)  # fmt: skip

    def sync(*extra):
        return run(capsys, "sync", "--device", sim.board.device, "--key-dir", keys, "--db", db,
                   *extra)  # fmt: skip

    def more(minutes):
        sim.power_cut(0)  # the reset that starts the deployed firmware
        sim.run(sim.now_ms + minutes * 60_000, 30_000)

    sim = Simulation(tmp_path / "board", CONFIG, SimMeter())
    sim.start(deployer=lambda device, board, config: deploy("--device-id", "site-a"))
    try:
        sim.run(30 * 60_000, 30_000)  # site-a: seq 0..5, unsynced
        assert deploy("--device-id", "site-b")[0] == 1
        assert deploy()[0] == 0  # keeps site-a
        more(15)  # seq 6..8
        code, out, err = sync()
        assert code == 0 and "site-a: stored 9 records, seq 0..8" in out, err
        code, out, err = deploy("--device-id", "site-b")  # nothing unsynced: allowed
        assert code == 0 and "device site-b:" in out, err
        more(15)  # seq 9..11 under site-b, chained on from site-a's seq 8
        code, out, err = sync()
        assert code == 0, err
        assert "site-b: stored 3 records, seq 9..11" in out
        assert "seq 0..8 are already in this history under 'site-a'" in out
        assert "chain anchored at seq 9: continues the chain of 'site-a'" in out
        more(10)  # seq 12..13 under site-b, unsynced
        assert "2 unsynced records" in deploy("--device-id", "site-c")[2]
        code, out, err = deploy("--device-id", "site-c", "--force")
        assert code == 0, err
        more(10)  # seq 14..15 under site-c
        code, out, err = sync()
        assert code == 0 and "site-c: stored 4 records, seq 12..15" in out, err
        records = sim.records()
    finally:
        sim.stop()
    with History(db) as history:
        stored = {
            seq: bytes(raw) for seq, raw in history.db.execute("SELECT seq, raw FROM records")
        }
        assert history.count() == len(stored) == 16  # each record once
        assert [history.count(d) for d in ("site-a", "site-b", "site-c")] == [9, 3, 4]
        assert history.verify() == [] and history.quarantined() == []
    assert {r.seq: r.encode() for r in records} == stored
    code, out, _ = run(capsys, "verify", "--db", db)
    assert code == 0 and "16 records, CRCs and hash chains intact" in out


def test_records_chained_under_an_id_no_history_knows_are_quarantined_then_accepted(
    tmp_path, capsys
):
    """site-a never synced; a forced rename to site-b: the sync proves nothing past the
    break, quarantines seq 0.., says how to recover, verify reports them; --accept-break
    takes them in as an audited event and verify passes."""
    keys, db = tmp_path / "keys", tmp_path / "history.db"
    site = write_site(tmp_path)
    sim = Simulation(tmp_path / "board", CONFIG, SimMeter())
    sim.start(deployer=lambda device, board, config: run(
        capsys, "deploy", "--device", device, "--board", "unix_sim", "--key-dir", keys,
        "--config", site, "--device-id", "site-a"))  # fmt: skip
    try:
        sim.run(20 * 60_000, 30_000)  # site-a: seq 0..3
        dev = ["--device", sim.board.device, "--key-dir", keys]
        code, _, err = run(capsys, "deploy", *dev, "--board", "unix_sim", "--config", site,
                           "--device-id", "site-b", "--force")  # fmt: skip
        assert code == 0, err
        sim.power_cut(0)
        sim.run(sim.now_ms + 10 * 60_000, 30_000)  # seq 4..5 under site-b
        for _ in range(2):
            code, out, err = run(capsys, "sync", *dev, "--db", db)
            last = err.strip().splitlines()[-1]
            assert code == 1 and "seq 0..5 quarantined" in last
            assert "host sync --accept-break" in last
        code, out, err = run(capsys, "verify", "--db", db)
        assert code == 0 and "seq 0..5: 6 records quarantined, not verified" in out
        code, out, err = run(capsys, "sync", *dev, "--db", db, "--accept-break")
        assert code == 0 and "site-b: stored 6 records, seq 0..5" in out, err
        assert "accepted with `host sync --accept-break`" in out
        records = sim.records()
    finally:
        sim.stop()
    code, out, _ = run(capsys, "verify", "--db", db)
    assert code == 0 and "6 records, CRCs and hash chains intact" in out
    assert "quarantined" not in out
    with History(db) as history:
        raws = [bytes(r[0]) for r in history.db.execute("SELECT raw FROM records ORDER BY seq")]
    assert raws == [r.encode() for r in records]
