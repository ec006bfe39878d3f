"""`python -m host demo --core` runs the netting core in the MicroPython VM and prints a true
table; `python -m host demo` (what `make demo` runs) runs the whole chain on a simulated day
and prints per-hour energies that equal the meter's own register deltas."""

import re
import subprocess
import sys
from pathlib import Path

from host.history import History

ROOT = Path(__file__).resolve().parent.parent


def host(*argv, timeout):
    return subprocess.run(
        [sys.executable, "-m", "host", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_core_demo_prints_netted_intervals_with_equal_net_both_ways():
    proc = host("demo", "--core", timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if re.match(r"\d\d:\d\d:\d\d", line)]
    assert len(rows) == 48  # 06:07 to 18:00 in 15-minute intervals
    assert rows[0].startswith("06:07:00") and rows[0].endswith("PARTIAL")
    assert rows[1].startswith("06:15:00")
    total = next(line for line in proc.stdout.splitlines() if line.startswith("total"))
    a_plus, a_minus, net, arith_plus, arith_minus = [
        float(x) for x in re.findall(r"-?\d+\.\d", total)
    ]
    assert abs(net - (arith_plus - arith_minus)) < 0.2  # the same net by either summation
    assert a_minus > 0 and arith_plus > a_plus  # PV export at midday; arithmetic books more
    assert "Traceback" not in proc.stderr


def wh(text):
    """A kWh figure of the table (three decimals: whole Wh) as integer Wh."""
    return round(float(text) * 1000)


def test_full_demo_syncs_a_day_whose_hours_equal_the_meter_registers(tmp_path):
    out = tmp_path / "demo-out"
    proc = host("demo", "--out", out, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "deploying the firmware with mpremote" in proc.stderr
    lines = proc.stdout.splitlines()
    hours = [line for line in lines if re.match(r"\d\d:00 +\|", line)]
    assert [h[:5] for h in hours] == ["%02d:00" % h for h in range(24)]
    columns = []
    for line in hours:
        numbers = re.findall(r"-?\d+\.\d{3}", line)
        assert len(numbers) == 5, line
        imp, exp, net, meter_imp, meter_exp = (wh(x) for x in numbers)
        assert net == imp - exp, line
        assert (imp, exp) == (meter_imp, meter_exp), line  # registers billed: exact per hour
        columns.append((imp, exp, meter_imp, meter_exp))
    total = next(line for line in lines if line.startswith("total"))
    imp, exp, net, meter_imp, meter_exp = (wh(x) for x in re.findall(r"-?\d+\.\d{3}", total))
    assert (imp, exp) == (meter_imp, meter_exp) and "equal to the meter" in total
    assert (imp, exp) == tuple(sum(c[i] for c in columns) for i in range(2))
    assert net == imp - exp and imp > 0 and exp > 0  # a PV day imports at night, exports at noon
    with History(out / "history.db", create=False) as history:
        rows = list(history.rows())
        assert history.verify() == []
    assert len(rows) == 96  # 24 h of 15-minute intervals, all synced
    assert sum(r["a_plus"] for r in rows) == imp * 1000  # the database holds what is printed
    assert sum(r["a_minus"] for r in rows) == exp * 1000
    assert (out / "day.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wall = re.search(r"wall time: (\d+\.\d) s", proc.stdout)
    assert wall and float(wall.group(1)) < 120


def test_demo_into_a_file_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    proc = host("demo", "--out", blocker, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("host: ")
    assert "Traceback" not in proc.stderr
