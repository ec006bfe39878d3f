"""`python -m host demo` runs the netting core in the MicroPython VM and prints a true table."""

import re
import subprocess
import sys


def test_demo_prints_netted_intervals_with_equal_net_both_ways():
    proc = subprocess.run(
        [sys.executable, "-m", "host", "demo"], capture_output=True, text=True, timeout=120
    )
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
