"""Maintenance: a running board with an rp2-like watchdog (it cannot be stopped; SimBoard
resets the board process when it is not fed for its timeout) is redeployed with the real
`host deploy` (mpremote), keeps its device id, a working key and its records, and runs the
new firmware afterwards; a bare mpremote session keeps the board reachable past the
watchdog's timeout; a hang in normal running is still reset. docs/maintenance.md."""

import json
import shutil
import subprocess
import time

import pytest

import host.deploy
from host.history import History
from host.link import Link
from host.sim.meter import SimMeter
from host.sim.run import Simulation
from tests.conftest import run_host as run

WATCHDOG_MS = 1500
CONFIG = {
    "poll_period_s": 30,
    "watchdog_ms": WATCHDOG_MS,
    "rs485": {"baud": 115200},
    "netting": {"sources": ["registers"], "billing": "registers", "interval_min": 5},
}


def mpremote(device, *args, timeout=60):
    cmd = [host.deploy._tool("mpremote"), "connect", device, "resume", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def wait_for_resets(board, n, timeout_s):
    deadline = time.monotonic() + timeout_s
    while board.watchdog_resets < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return board.watchdog_resets


def back_in_service(sim):
    """After a reset: the firmware boots, gets its clock (as a host would set it) and polls."""
    sim.board.wait_ready()
    sim.board.set_clock(sim.epoch_ms + sim.now_ms)
    sim.board.run_to(sim.epoch_ms + sim.now_ms)


@pytest.fixture
def site(tmp_path, capsys):
    keys = tmp_path / "keys"
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(CONFIG))

    def deploy_with_the_cli(device, board, config):
        argv = ["--config", site_file, "--device-id", "pico-1", "--key-dir", keys]
        code, _, err = run(capsys, "deploy", "--device", device, "--board", "unix_sim", *argv)
        assert code == 0, err

    sim = Simulation(tmp_path / "board", CONFIG, SimMeter(), watchdog=True)
    sim.start(deployer=deploy_with_the_cli)
    try:
        yield sim, tmp_path, keys, site_file
    finally:
        sim.stop()


def test_a_running_board_is_redeployed_through_its_maintenance_window(site, capsys, tmp_path):
    sim, root, keys, site_file = site
    sim.run(20 * 60_000, 30_000)  # four records, the watchdog fed by the main loop
    assert (sim.dir / "watchdog.feed").exists() and sim.board.watchdog_resets == 0
    before = [r.encode() for r in sim.records()]
    key_before = (keys / "pico-1.key").read_text()
    assert len(before) == 4

    # A bare mpremote user: Ctrl-C, then nothing for three watchdog timeouts.
    assert mpremote(sim.board.device, "exec", "print('hello')").returncode == 0
    time.sleep(3 * WATCHDOG_MS / 1000)
    ls = mpremote(sim.board.device, "exec", "import maintenance; print(maintenance.left_s())")
    assert ls.returncode == 0 and 590 <= int(ls.stdout.split()[-1]) <= 600, ls
    assert sim.board.watchdog_resets == 0

    # New firmware: the same code under another version, deployed by the real `host deploy`.
    firmware = tmp_path / "netmeter"
    shutil.copytree(host.deploy.PACKAGES["netmeter"], firmware)
    linkdevice = firmware / "linkdevice.py"
    linkdevice.write_text(linkdevice.read_text().replace('"0.1.0"', '"0.1.0+redeployed"'))
    packages = dict(host.deploy.PACKAGES, netmeter=firmware)
    original, host.deploy.PACKAGES = host.deploy.PACKAGES, packages
    try:
        started = time.monotonic()
        code, out, err = run(capsys, "deploy", "--device", sim.board.device, "--board",
                             "unix_sim", "--config", site_file, "--key-dir", keys)  # fmt: skip
        took = time.monotonic() - started
    finally:
        host.deploy.PACKAGES = original
    assert code == 0, err
    # The new code replaced the old in lib/ (not in lib/lib, nor beside it in the root).
    assert b"redeployed" in (sim.dir / "lib" / "netmeter" / "linkdevice.mpy").read_bytes()
    assert not (sim.dir / "lib" / "lib").exists() and not (sim.dir / "netmeter").exists()
    assert "its watchdog restarts it into the new firmware within 3 s" in out
    assert "device pico-1: kept its link key" in out  # the id it had, without --device-id
    assert (keys / "pico-1.key").read_text() == key_before
    assert (sim.dir / "link.key").read_text().strip() == key_before.strip()
    assert took > WATCHDOG_MS / 1000  # longer than an unfed watchdog would have allowed
    assert wait_for_resets(sim.board, 1, 10) == 1  # ended by the host: the watchdog resets it
    back_in_service(sim)
    sim.run(sim.now_ms + 10 * 60_000, 30_000)

    key = bytes.fromhex((keys / "pico-1.key").read_text())
    with Link.open(sim.board.device, key=key) as link:
        info = link.info()
        assert info["fw"] == "0.1.0+redeployed" and info["device_id"] == "pico-1"
        link.ack(0)  # a signed command: the board and the host still share the key
    after = [r.encode() for r in sim.records()]
    assert after[:4] == before and len(after) == 6  # the records kept, and the chain goes on
    db = root / "history.db"
    code, out, err = run(capsys, "sync", "--device", sim.board.device, "--key-dir", keys,
                         "--db", db)  # fmt: skip
    assert code == 0 and "pico-1: stored 6 records, seq 0..5" in out, err
    with History(db) as history:
        assert history.verify() == []
    assert sim.board.watchdog_resets == 1


def test_a_hang_in_normal_running_is_still_reset_by_the_watchdog(site):
    sim, *_ = site
    sim.run(10 * 60_000, 30_000)
    sim.board.arm("before-checkpoint")  # the firmware stops there and never feeds again
    hung = None
    while hung is None:
        hung = sim.step_to_cut(sim.now_ms + 30_000)
    assert hung == "before-checkpoint" and sim.board.watchdog_resets == 0
    started = time.monotonic()
    assert wait_for_resets(sim.board, 1, 10) == 1
    assert time.monotonic() - started < WATCHDOG_MS / 1000 + 1.0
    back_in_service(sim)
    sim.run(sim.now_ms + 10 * 60_000, 30_000)
    assert [r.seq for r in sim.records()] == list(range(len(sim.records())))
    assert len(sim.records()) >= 3


def test_an_ended_window_lets_the_watchdog_reset_the_board_into_service(site):
    sim, *_ = site
    sim.run(10 * 60_000, 30_000)
    done = mpremote(sim.board.device, "exec", "import maintenance; maintenance.end()")
    assert done.returncode == 0, done
    assert wait_for_resets(sim.board, 1, 10) == 1
    back_in_service(sim)
    sim.run(sim.now_ms + 10 * 60_000, 30_000)
    assert sim.board.watchdog_resets == 1
