"""The firmware on the simulated board, end to end: deployed with mpremote, run in lockstep
virtual time against the simulated meter, records checked against the meter's truth."""

import json
import os
import signal
import struct
import subprocess
import sys

import pytest

from host.deploy import deploy
from host.sim.board import BOARD_HEAP
from host.sim.meter import SimMeter
from host.sim.pulses import Bounce, S0Config
from host.sim.run import Simulation
from host.sim.site import DAY_MS, HOUR_MS, SiteConfig
from shared.record import PULSES_REJECTED

UJ_PER_WH = 3_600_000_000
CONFIG = {
    "poll_period_s": 15,
    "rs485": {"baud": 115200},
    "netting": {
        "sources": ["registers", "power", "pulses"],
        "billing": "registers",
        "interval_min": 15,
        "pulse_imp_per_kwh": 1000,
    },
}


def register_wh(meter, t):
    truth = meter.truth_at(t).vector
    return truth.a_plus // UJ_PER_WH, truth.a_minus // UJ_PER_WH


def rising(edges, channel):
    return [t for t, ch, level in edges if ch == channel and level == 1]


@pytest.fixture(scope="module")
def pv_day(tmp_path_factory):
    """A household with PV, one whole simulated day at 15-second polling."""
    sim = Simulation(tmp_path_factory.mktemp("board"), CONFIG, SimMeter(SiteConfig(seed=7)))
    sim.start()
    try:
        sim.run(DAY_MS, 15_000)
        yield sim, sim.records(), sim.heap()
    finally:
        sim.stop()


def test_a_day_gives_96_contiguous_clean_intervals(pv_day):
    sim, records, _ = pv_day
    assert [r.seq for r in records] == list(range(96))
    for a, b in zip(records, records[1:], strict=False):
        assert b.start_utc == a.start_utc + a.duration_s and b.duration_s == 900
    assert all(r.flags == 0 for r in records), [r.flags for r in records if r.flags]


def test_register_intervals_equal_the_register_deltas_exactly(pv_day):
    sim, records, _ = pv_day
    for r in records:
        t0, t1 = sim.meter_time(r)
        (imp0, exp0), (imp1, exp1) = register_wh(sim.meter, t0), register_wh(sim.meter, t1)
        assert (r.a_plus, r.a_minus) == ((imp1 - imp0) * 1000, (exp1 - exp0) * 1000), r.seq
    assert sum(r.a_minus for r in records) > 1_000_000  # PV exported more than 1 kWh


def test_pulses_within_one_of_truth_per_interval_and_exact_in_total(pv_day):
    sim, records, _ = pv_day
    edges = sim.meter.edges(0, DAY_MS)
    for channel, field in (("import", "pulses_import"), ("export", "pulses_export")):
        starts = rising(edges, channel)
        for r in records:
            t0, t1 = sim.meter_time(r)
            truth = sum(1 for t in starts if t0 < t <= t1)
            assert abs(getattr(r, field) - truth) <= 1, (channel, r.seq)
        assert sum(getattr(r, field) for r in records) == len(starts)
        # and the pulses are the meter's energy: one per Wh, less what is still queued
        energy = sim.meter.truth_at(DAY_MS).vector
        wh = (energy.a_plus if channel == "import" else energy.a_minus) // UJ_PER_WH
        assert len(starts) == wh - sim.meter.s0[channel].pending(DAY_MS)


def test_firmware_runs_in_the_128k_heap_of_a_32_bit_board(pv_day):
    # -X heapsize=128wK: 128 KB counted in 4-byte words, scaled to this VM's pointer size
    # (README, "Memory"); the day above ran to its end in it, with the heap sampled.
    sim, _, (live, total) = pv_day
    assert sim.heapsize == BOARD_HEAP == "128wK"
    budget = 128 * 1024 * struct.calcsize("P") // 4
    assert budget - 4096 < total <= budget  # less the GC's own tables
    assert 0 < live < total


def test_bounce_is_rejected_and_counted(tmp_path):
    s0 = S0Config(bounce=Bounce(max_pairs=3, spacing_ms=2, probability=1.0))
    meter = SimMeter(SiteConfig(seed=3), s0=s0)
    start = 11 * HOUR_MS
    with Simulation(tmp_path, CONFIG, meter, start_ms=start) as sim:
        sim.run(start + HOUR_MS, 15_000)
        records = sim.records()
    edges = [e for e in meter.edges(start, start + HOUR_MS) if e[1] == "export"]

    started = meter.s0["export"].pulses_started  # the meter's own pulses, not bounce edges
    real = started(start + HOUR_MS) - started(start)
    assert len(edges) > 4 * real  # every pulse bounces: many more edges than pulses
    assert sum(r.pulses_export for r in records) == real
    assert all(r.flags & PULSES_REJECTED for r in records)


def test_legitimate_30ms_pulses_at_16_7_hz_are_all_counted(tmp_path):
    # At night nothing is exported, so 1000 pulses on the export input are ours alone.
    start = 2 * HOUR_MS
    with Simulation(tmp_path, CONFIG, SimMeter(SiteConfig(seed=5)), start_ms=start) as sim:
        sim.step_to(start + 15_000)
        t = sim.epoch_ms + start + 15_000
        burst = []
        for i in range(1000):
            burst += [(t + 60 * i + 1, 1, 0), (t + 60 * i + 31, 1, 1)]  # 30 ms on, 30 ms off
        sim.step_to(start + 75_000, extra_edges=burst)
        sim.run(start + 15 * 60_000, 15_000)
        (record,) = sim.records()
    assert record.pulses_export == 1000
    assert not record.flags & PULSES_REJECTED


def test_mpremote_stops_the_running_firmware_and_redeploys(tmp_path):
    with Simulation(tmp_path, CONFIG) as sim:
        sim.step_to(15_000)
        new = dict(CONFIG, poll_period_s=5)
        deploy(sim.board.device, "unix_sim", new)  # Ctrl-C, raw REPL, fs cp, while running
        assert json.loads((tmp_path / "config.json").read_text())["poll_period_s"] == 5
        assert (tmp_path / "lib" / "netmeter" / "app.mpy").exists()
        assert "KeyboardInterrupt" in bytes(sim.board.console_log).decode(errors="replace")
        sim.board.restart()
        sim.board.wait_ready()
        sim.step_to(30_000)


def test_a_run_line_the_board_never_read_dies_with_its_power(tmp_path):
    # A power cut right after a run line was sent (the power-cut torture's "anywhere"): the
    # rebooted firmware must not get it and answer a time long past.
    with Simulation(tmp_path, CONFIG) as sim:
        sim.step_to(15_000)
        os.kill(sim.board.proc.pid, signal.SIGSTOP)  # busy: the line stays unread
        sim.board.send_run(sim.epoch_ms + 30_000)
        sim.now_ms = 30_000
        sim.power_cut(10 * 60_000)  # BoardError 'answered D ...' if the old line got through
        assert sim.now_ms == 630_000
        sim.step_to(645_000)


def test_real_time_mode_runs_the_same_parts(tmp_path):
    config = dict(CONFIG, poll_period_s=1)
    with Simulation(tmp_path, config, start_ms=HOUR_MS) as sim:
        sim.run_realtime(2.5)
        assert HOUR_MS + 2000 <= sim.now_ms <= HOUR_MS + 4000
        assert sim.board.proc.poll() is None


def test_host_sim_board_command_runs_a_board(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "host", "sim", "board", "--dir", str(tmp_path / "b"),
         "--hours", "0.25", "--start", "12", "--key-dir", str(tmp_path / "keys")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "board console (USB serial): /dev/pts/" in proc.stdout
    assert "1 interval records" in proc.stdout
    segments = list((tmp_path / "b" / "records").glob("*.seg"))
    assert len(segments) == 1 and segments[0].stat().st_size == 76
