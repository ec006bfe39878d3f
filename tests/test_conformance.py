"""The conformance suite in virtual time: every scenario passes against the meter's truth,
and a device set up wrongly fails it."""

import dataclasses
import json
import subprocess
import sys

import pytest

from host.conformance import report
from host.conformance.checks import Result
from host.conformance.scenarios import SCENARIOS
from host.conformance.simulated import run_scenario


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_passes(name, tmp_path):
    result = run_scenario(SCENARIOS[name], tmp_path / name)
    assert result.passed, result.problems
    assert set(result.flags_expected) <= set(result.flags_seen)


def test_a_wrong_pulse_constant_fails_the_pulse_scenario(tmp_path):
    # The meter gives 1000 imp/kWh; the device is told 800: every interval is 25 % high.
    scenario = SCENARIOS["pulses-billed"]
    wrong = dataclasses.replace(scenario, sources=("pulses",), device_imp_per_kwh=800)
    result = run_scenario(wrong, tmp_path / "wrong")
    assert not result.passed
    assert any(" A+: device" in p or " A-: device" in p for p in result.problems)
    assert result.worst_error_pct > 20
    # with registers beside the pulses, the device flags it itself, which the suite also fails
    wrong = dataclasses.replace(scenario, device_imp_per_kwh=800)
    result = run_scenario(wrong, tmp_path / "wrong-crosschecked")
    assert not result.passed
    assert any(p.startswith("unexpected SOURCE_MISMATCH") for p in result.problems)


def test_a_cross_check_switched_off_misses_the_stuck_register(tmp_path):
    off = dataclasses.replace(SCENARIOS["stuck-export"], netting={"crosscheck_percent": None})
    result = run_scenario(off, tmp_path / "off")
    assert not result.passed
    assert "expected SOURCE_MISMATCH, never seen" in result.problems


def test_a_reply_fault_the_meter_never_sent_fails_the_scenario(tmp_path):
    # 1000 noisy replies cannot all go out in 20 minutes of 15 s polls: the fault was not
    # (wholly) exercised, and the suite says so rather than passing on clean replies.
    scenario = SCENARIOS["garbage"]
    ((t, name, _),) = scenario.faults
    longer = dataclasses.replace(scenario, faults=((t, name, 1000),))
    result = run_scenario(longer, tmp_path / "longer")
    assert not result.passed
    assert result.problems == ["reply faults never sent: garbage"]


def test_command_prints_the_table_and_writes_the_report(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "host", "conformance", "--sim", "--scenario", "steady-import",
         "--report", str(tmp_path / "rep")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "steady-import" in proc.stdout and "PASS" in proc.stdout
    data = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert data["passed"] and data["scenarios"][0]["name"] == "steady-import"
    assert (tmp_path / "rep" / "steady-import.png").stat().st_size > 1000


def test_unknown_scenario_is_one_line_and_exit_1():
    proc = subprocess.run(
        [sys.executable, "-m", "host", "conformance", "--scenario", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("host: no scenario 'nope'") and "Traceback" not in proc.stderr


def test_failure_shows_in_the_table():
    r = Result("x", "d", passed=False, problems=["boom"])
    assert "FAIL" in report.table([r]) and "! boom" in report.table([r])


def test_a_debounce_longer_than_the_bounce_catches_it_and_fails_the_mismatch_scenario(tmp_path):
    # The scenario's bounce lasts 44 ms; a 50 ms debounce rejects it: no mismatch to flag.
    scenario = SCENARIOS["bounce-past-filter"]
    filtered = dataclasses.replace(scenario, pulses={"min_width_ms": 60, "debounce_ms": 50})
    result = run_scenario(filtered, tmp_path / "filtered")
    assert not result.passed
    assert "expected SOURCE_MISMATCH, never seen" in result.problems
    assert "PULSES_REJECTED" in result.flags_seen


def test_lost_pulses_go_unseen_with_the_cross_check_off(tmp_path):
    off = dataclasses.replace(SCENARIOS["lost-pulses"], netting={"crosscheck_percent": None})
    result = run_scenario(off, tmp_path / "off")
    assert not result.passed
    assert result.problems == ["expected SOURCE_MISMATCH, never seen"]


def test_the_meter_server_serves_a_real_serial_port_path(tmp_path):
    # A pty slave stands in for /dev/ttyUSB0: the server opens it by path, sets it raw at
    # the baud rate, and answers a Modbus read written on the other end, faults included.
    import os
    import time

    from host.conformance.simulated import build_meter
    from host.sim.modbus import MeterServer
    from host.sim.ptyrelay import open_raw_pty, with_crc

    wire = open_raw_pty()  # master: the board's end of the bus; slave path: the "adapter"
    meter = build_meter(SCENARIOS["steady-import"])
    meter.advance_to(60_000)

    def ask():
        function, (first, _) = next(iter(server.registers.blocks.items()))
        request = with_crc(bytes([1, function, first >> 8, first & 255, 0, 2]))
        os.write(wire.master, request)
        reply, deadline = b"", time.monotonic() + 2
        while len(reply) < 9 and time.monotonic() < deadline:
            try:
                reply += os.read(wire.master, 64)
            except BlockingIOError:
                time.sleep(0.01)
        return reply

    with MeterServer(meter, "generic", baudrate=115200, port=wire.path) as server:
        assert server.device_path == wire.path
        reply = ask()
        assert reply[2] == 4 and len(reply) == 9 and with_crc(reply[:-2]) == reply
        server.faults.exception(4, count=1)
        assert ask() == with_crc(bytes([1, reply[1] | 0x80, 4]))
    for fd in (wire.master, wire.slave):
        os.close(fd)


def test_the_real_time_path_reads_the_records_back_over_the_link(tmp_path):
    # The runner's real-time path: the meter on the wall clock (30x here, 1x on a bench),
    # the board run to wherever it is, faults at their times, records PULLed over the link.
    from host.conformance.scenarios import gap_flags

    t0 = SCENARIOS["exception-04"].start_ms
    scenario = dataclasses.replace(
        SCENARIOS["exception-04"],
        hours=4 / 60,
        interval_min=1,
        poll_s=5,
        faults=((t0 + 120_000, "exception", 4, 20),),
        expect=dict(
            gap_flags("COMM_ERROR", t0 + 120_000, t0 + 240_000),
            RECOVERED=(t0 + 120_000, t0 + 240_000),
        ),
    )
    result = run_scenario(scenario, tmp_path / "rt", realtime=30.0)
    assert result.passed, result.problems
    assert len(result.intervals) >= 4 and result.wall_s < 30


def test_hardware_mode_refuses_what_a_real_board_cannot_be_given():
    from host.conformance.hardware import HardwareError, hardware_config

    for name, needs in (("bounce", "S0 pulses"), ("power-cut", "power_cut")):
        with pytest.raises(HardwareError, match=needs):
            hardware_config(SCENARIOS[name])
    assert "pulses" not in hardware_config(SCENARIOS["crc-errors"])["netting"]["sources"]


def test_device_mode_without_a_meter_port_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "host", "conformance", "--device", "/dev/null"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("host: --device needs --meter-port")


def test_with_a_pulse_feeder_hardware_mode_takes_the_pulse_scenarios():
    from host.conformance.hardware import HardwareError, hardware_config

    for name in ("pulses-billed", "bounce", "bounce-past-filter", "lost-pulses", "inverted-ct"):
        assert "pulses" in hardware_config(SCENARIOS[name], pulses=True)["netting"]["sources"]
    assert "pulses" in hardware_config(SCENARIOS["crc-errors"], pulses=True)["netting"]["sources"]
    for name, needs in (("power-cut", "power_cut"), ("clock-step", "clock_step")):
        with pytest.raises(HardwareError, match=needs):
            hardware_config(SCENARIOS[name], pulses=True)
    # The feeder is sent edges ahead of time: a CT fault on the meter that gives them cannot
    # reach pulses already sent, so only an upstream pulse meter's CT-fault scenario runs.
    same_meter = dataclasses.replace(SCENARIOS["inverted-ct"], separate_pulse_meter=False)
    with pytest.raises(HardwareError, match="CT fault"):
        hardware_config(same_meter, pulses=True)
    with pytest.raises(HardwareError, match="--pulse-port"):
        hardware_config(SCENARIOS["lost-pulses"])


def test_the_pulse_stream_loses_pulses_by_edge_time():
    # lost-pulses on a bench: the stream runs a second ahead of the meter, so it applies the
    # harness's drop_pulses at each edge's own time, not when the meter reaches the fault.
    from host.conformance.pulsefeed import PulseStream
    from host.conformance.simulated import build_meter

    class Link:
        name = "a recording feeder"

        def __init__(self):
            self.lines = []

        def ask(self, line):
            self.lines.append(line)
            return "OK"

    class Clock:
        now_ms = 0

        def sync(self):
            return self.now_ms

    scenario = SCENARIOS["lost-pulses"]
    t_drop = scenario.start_ms + 5 * 60_000
    source = build_meter(scenario)
    source.advance_to(scenario.start_ms)
    stream = PulseStream(Link(), source, lead_ms=1000, drops=[(t_drop, 10), (t_drop + 60_000, 0)])
    clock = Clock()
    clock.now_ms = scenario.start_ms
    stream.start(clock)
    for now in range(scenario.start_ms, t_drop + 120_000, 100):
        stream.pump(now)
    truth = build_meter(scenario)
    truth.advance_to(t_drop + 121_000)
    edges = truth.edges(scenario.start_ms, stream.through_ms)
    before = [e for e in edges if e[0] < t_drop]
    during = [e for e in edges if t_drop <= e[0] < t_drop + 60_000]
    after = [e for e in edges if e[0] >= t_drop + 60_000]
    sent = stream.sent
    assert [e for e in sent if e[0] < t_drop] == before
    assert [e for e in sent if e[0] >= t_drop + 60_000] == after
    kept = [e for e in sent if t_drop <= e[0] < t_drop + 60_000]
    starts = sum(1 for e in during if e[2] == 1)
    # Every 10th pulse counted from the stream's start: both edges of starts // 10 pulses
    # (or one more, as the count does not restart at the fault) are gone.
    assert starts > 20 and len(during) - len(kept) in (2 * (starts // 10), 2 * (starts // 10 + 1))
    assert stream.link.lines[0] == "T0" and len(stream.link.lines) == 1 + len(sent)


def test_on_the_seesaw_site_lost_pulses_are_still_flagged(tmp_path):
    # Power's open split widens only the comparisons with power: S0 against the registers
    # keeps its 2 %, so every 10th pulse lost is caught even where the sign flips each minute.
    from host.conformance.scenarios import at

    scenario = dataclasses.replace(
        SCENARIOS["seesaw-10s"],
        faults=((at(12, 15), "drop_pulses", 10), (at(12, 30), "drop_pulses", 0)),
        expect={"SOURCE_MISMATCH": (at(12, 15), at(12, 30))},
    )
    result = run_scenario(scenario, tmp_path / "lost")
    assert result.passed, result.problems
    assert result.flags_seen["SOURCE_MISMATCH"] == [1]
    off = dataclasses.replace(scenario, faults=())
    result = run_scenario(off, tmp_path / "clean")
    assert not result.passed and result.problems == ["expected SOURCE_MISMATCH, never seen"]


def test_a_board_that_stamps_its_unset_clock_fails_the_unset_clock_scenario(tmp_path, monkeypatch):
    # The firmware as it was before netmeter.timekeeping: every reading taken as placed, so
    # after the cut it closes intervals in the clock's 2021 time base. The suite must say so.
    # Compiled with mpy-cross like the real firmware: from source it would not fit the heap.
    import shutil

    from host import deploy
    from host.conformance import simulated

    netmeter = tmp_path / "netmeter"
    shutil.copytree(deploy.PACKAGES["netmeter"], netmeter)
    keeper = netmeter / "timekeeping.py"
    text = keeper.read_text()
    assert text.count("self.placed = bool(clock_set)") == 2
    keeper.write_text(text.replace("self.placed = bool(clock_set)", "self.placed = True"))
    monkeypatch.setitem(deploy.PACKAGES, "netmeter", netmeter)
    fw = tmp_path / "fw"
    deploy.stage(fw, deploy.board_arch("unix_sim"))
    monkeypatch.setattr(simulated, "staged_firmware", lambda: fw)
    result = run_scenario(SCENARIOS["unset-clock-1-interval"], tmp_path / "run")
    assert not result.passed
    timeline = ("wrong time base", "a hole or an overlap")
    assert any(w in p for p in result.problems for w in timeline), result.problems
