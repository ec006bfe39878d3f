"""Conformance suite: wall time of the whole suite, and simulated days per wall-clock minute
for one scenario (steady import at 15 s polling, run for a whole day)."""

import dataclasses
import tempfile
import time
from pathlib import Path

import benchlib  # noqa: F401 - puts the project on sys.path

from host.conformance.scenarios import SCENARIOS
from host.conformance.simulated import run_scenario, run_suite, staged_firmware


def main():
    staged_firmware()  # mpy-cross once, as the suite does
    started = time.monotonic()
    results = run_suite("all")
    wall = time.monotonic() - started
    passed = sum(1 for r in results if r.passed)
    simulated_h = sum(r.simulated_s for r in results) / 3600
    print(
        "conformance suite: %d scenarios (%d passed), %.1f simulated hours in %.1f s wall"
        % (len(results), passed, simulated_h, wall)
    )
    day = dataclasses.replace(SCENARIOS["steady-import"], start_ms=0, hours=24)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        result = run_scenario(day, Path(tmp) / "day")
        wall = time.monotonic() - started
    print(
        "one scenario (steady-import, 24 h at 15 s polling, %s): %.1f s wall, "
        "%.1f simulated days per wall-clock minute"
        % ("PASS" if result.passed else "FAIL", wall, 60 / wall)
    )


if __name__ == "__main__":
    main()
