"""A deploy keeps the identity a board already has, read from the board before anything is
overwritten (host/identity.py), refuses to strand unsynced records under a new id, and never
proceeds on a read that failed. On the simulated board with the real mpremote."""

import json
import os
import threading
import tty

import pytest

from host.cli import main
from host.history import History
from host.sim.meter import SimMeter
from host.sim.run import Simulation

CONFIG = {
    "device_id": "site-a",
    "poll_period_s": 30,
    "rs485": {"baud": 115200},
    "netting": {"sources": ["registers"], "billing": "registers", "interval_min": 5},
}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def snapshot(directory):
    """Every file the deploy could touch, by path: what a refused deploy must leave alone."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "unix_sim.json" not in path.name:
            out[str(path.relative_to(directory))] = path.read_bytes()
    return out


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
    assert "device site-a:" in out
    assert json.loads((sim.dir / "config.json").read_text())["device_id"] == "site-a"
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
