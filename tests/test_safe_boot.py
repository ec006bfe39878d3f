"""A setting never leaves a board at a bare REPL (issue 12.1): configs the validator refuses,
written straight into the simulated board's config.json (past the host), one per rule. The
board boots its last good config and says why in INFO and STATUS and in its error log;
with no usable config it boots safe mode (link up, no polling) and a config push brings it
back; an exception escaping the main loop leaves it in the same safe mode with its store
still served. No record is lost on the way."""

import json

import pytest

from host.link import Link
from host.sim.run import Simulation
from shared.record import decode

KEY = bytes(range(32))
CONFIG = {
    "device_id": "safe-1",
    "poll_period_s": 15,
    "rs485": {"baud": 115200},
    "netting": {"sources": ["registers", "power"], "billing": "registers", "interval_min": 5},
}
FIVE_MIN = 5 * 60_000

# One config per rule, each refused by shared.config, and what the refusal names.
BAD = [
    (dict(CONFIG, poll_period_s=10.0), "poll_period_s = 10.0: allowed 1, 2, 3"),
    (
        dict(CONFIG, poll_period_s=1, timeout_ms=1000, retries=2),
        "timeout_ms = 1000 x (retries = 2 + 1) x 1 reads = 3000 ms",
    ),
    (
        dict(CONFIG, netting={"sources": ["power"]}),
        "netting.billing = 'registers': must be one of netting.sources",
    ),
    (
        dict(CONFIG, pulses={"imp_per_kwh": 1000}, netting={"pulse_imp_per_kwh": 2000}),
        "netting.pulse_imp_per_kwh = 2000 differs from pulses.imp_per_kwh = 1000",
    ),
    (dict(CONFIG, watchdog_ms=70000), "watchdog_ms = 70000: must be an integer in 1000..60000"),
    (dict(CONFIG, pulses={"debounce_ms": 30}), "pulses.debounce_ms = 30"),
    (dict(CONFIG, capacity=35040.0), "capacity = 35040.0"),
    (dict(CONFIG, baud=9600), "baud is not a setting"),  # an older host's top-level baud
    ('{"poll_period_s": 15,', "config.json: not JSON"),
    (dict(CONFIG, meter={"MAP": "nosuchmeter"}), "meter: map='nosuchmeter'"),
]


def info_and_status():
    with Link.open(SIM["sim"].board.device, key=KEY, timeout=3.0) as link:
        return link.info(), link.status(), link.log(16)


def reboot(sim, config_text=None, remove_good=False):
    if config_text is not None:
        (sim.dir / "config.json").write_text(config_text)
    if remove_good:
        (sim.dir / "config.good.json").unlink()
    sim.power_cut(0)


def seqs(sim):
    return [r.seq for r in sim.records()]


SIM = {}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    directory = tmp_path_factory.mktemp("safeboot")
    (directory / "link.key").write_text(KEY.hex())
    sim = Simulation(directory, CONFIG)
    sim.start()
    SIM["sim"] = sim
    try:
        sim.run(2 * FIVE_MIN + 15_000, 15_000)
        yield sim
    finally:
        sim.stop()


def test_a_config_that_closed_an_interval_is_kept_as_the_last_good_one(board):
    sim = board
    assert seqs(sim) == [0, 1]
    good = json.loads((sim.dir / "config.good.json").read_text())
    assert good == json.loads((sim.dir / "config.json").read_text())
    info, status, _ = info_and_status()
    assert info["config_state"] == "ok" and status["config_state"] == "ok"


@pytest.mark.parametrize("bad, reason", BAD, ids=[r[:24] for _, r in BAD])
def test_a_refused_config_boots_the_last_good_one_and_says_why(board, bad, reason):
    sim = board
    good = (sim.dir / "config.good.json").read_text()
    before = seqs(sim)
    text = bad if isinstance(bad, str) else json.dumps(bad)
    reboot(sim, text)
    info, status, log = info_and_status()
    assert info["config_state"].startswith("last_good: config.json: "), info["config_state"]
    assert reason in info["config_state"], (reason, info["config_state"])
    assert status["config_state"] == info["config_state"]
    assert any(e[1] == "config_reject" for e in log), log
    assert info["device_id"] == "safe-1"
    # It runs the last good config: the next interval closes and is kept.
    sim.run(sim.now_ms + FIVE_MIN, 15_000)
    after = seqs(sim)
    assert after[: len(before)] == before and len(after) > len(before)
    assert (sim.dir / "config.good.json").read_text() == good  # only a good boot replaces it
    assert (sim.dir / "config.json").read_text() == text  # nothing rewritten behind the host


def test_with_no_usable_config_the_board_boots_safe_mode_and_a_push_brings_it_back(board):
    sim = board
    before = sim.records()
    reboot(sim, json.dumps(dict(CONFIG, poll_period_s=7)), remove_good=True)
    info, status, _ = info_and_status()
    state = info["config_state"]
    assert state.startswith("safe: config.json: poll_period_s = 7: allowed"), state
    assert "no last good config" in state
    assert status["config_state"] == state and status["p"] == []
    assert info["device_id"] == "safe-1" and info["board"] == "unix_sim"
    sim.run(sim.now_ms + 2 * FIVE_MIN, 15_000)  # no polling: nothing is made
    assert sim.records() == before
    # The host fixes it the usual way: a signed PUT_CONFIG, then a restart.
    with Link.open(sim.board.device, key=KEY, timeout=3.0) as link:
        link.put_config(CONFIG)
        assert link.info()["config_pending"]
    reboot(sim)
    info, _, _ = info_and_status()
    assert info["config_state"] == "ok"
    sim.run(sim.now_ms + FIVE_MIN + 15_000, 15_000)
    after = sim.records()
    assert after[: len(before)] == before and len(after) > len(before)
    assert [r.seq for r in after] == list(range(len(after)))  # none lost, none skipped
    with Link.open(sim.board.device, key=KEY, timeout=3.0) as link:
        assert [decode(r) for r in link.pull_all()] == after


def test_an_exception_in_the_main_loop_leaves_the_board_reachable_in_safe_mode(board):
    sim = board
    before = sim.records()
    # The next checkpoint cannot be written: its temporary file's name is a directory.
    blocker = sim.dir / "checkpoint.json.tmp"
    blocker.mkdir()
    try:
        sim.run(sim.now_ms + FIVE_MIN, 15_000)
        info, status, log = info_and_status()
        state = info["config_state"]
        assert state.startswith("safe: main loop stopped: OSError"), state
        assert status["config_state"] == state
        assert any(e[1] == "main_loop" for e in log), log
        with Link.open(sim.board.device, key=KEY, timeout=3.0) as link:
            held = [decode(r) for r in link.pull_all()]  # its store is still served
        assert held == sim.records() and held[: len(before)] == before
    finally:
        blocker.rmdir()
    reboot(sim)
    info, _, _ = info_and_status()
    assert info["config_state"] == "ok"
    sim.run(sim.now_ms + FIVE_MIN + 15_000, 15_000)
    assert [r.seq for r in sim.records()] == list(range(len(sim.records())))
