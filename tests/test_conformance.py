"""The conformance suite in virtual time: every scenario passes against the meter's truth,
and a device set up wrongly fails it."""

import dataclasses
import json
import subprocess
import sys

import pytest

from host.conformance import report
from host.conformance.runner import run_scenario
from host.conformance.scenarios import SCENARIOS


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
    r = run_scenario.__globals__["Result"]("x", "d", passed=False, problems=["boom"])
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
