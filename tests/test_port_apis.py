"""The board code uses only what each port really has: mypy against its published stubs.

tests/portcheck.py runs the check; `make stubs` (part of `make test`) installs the stubs
pinned in pyproject.toml. The probes prove the check fails where the port would fail.
"""

import portcheck
import pytest


@pytest.mark.parametrize("port", sorted(portcheck.PORTS))
def test_board_code_uses_only_the_ports_api(port):
    found = portcheck.findings(port, portcheck.port_files(port))
    assert found == [], "\n".join("%s:%d: %s [%s]" % (p, n, t, c) for p, n, c, t in found)


def test_the_circuitpython_check_covers_its_board_and_not_the_viper_module():
    names = {
        f.relative_to(portcheck.ROOT).as_posix() for f in portcheck.port_files("circuitpython")
    }
    assert "boards/feather_rp2040_cp.py" in names and "shared/record.py" in names
    assert "circuitpython/code.py" in names and "firmware/netmeter/app.py" in names
    assert "firmware/netmeter/pulsecounter.py" not in names


# What CircuitPython 10.2.1 refused on a real board (issue 14), and what it accepts.
CP_PROBE = """\
import hashlib
import time

import board
import countio
import micropython

from hashlib import sha256

hashlib.sha256(b"x")
time.sleep_ms(5)
time.ticks_ms()
micropython.viper
countio.Counter(board.D5, edge=countio.Edge.FALL, bouncetime=3)
hashlib.new("sha256", b"x")
time.monotonic_ns()
countio.Counter(board.D5, edge=countio.Edge.FALL)
"""


def probe(tmp_path, port, text):
    path = tmp_path / "probe.py"
    path.write_text(text)
    return {(n, c) for _, n, c, _ in portcheck.findings(port, [path])}


def test_the_check_fails_on_what_circuitpython_lacks(tmp_path):
    found = probe(tmp_path, "circuitpython", CP_PROBE)
    assert (8, "attr-defined") in found or (8, "import-not-found") in found  # from hashlib ...
    assert (10, "attr-defined") in found  # hashlib.sha256
    assert (11, "attr-defined") in found  # time.sleep_ms
    assert (12, "attr-defined") in found  # time.ticks_ms
    assert (13, "attr-defined") in found  # micropython.viper
    assert (14, "call-arg") in found  # a keyword countio.Counter does not take
    assert not {n for n, _ in found} & {15, 16, 17}, found  # what CircuitPython has


def test_the_check_fails_on_what_micropython_lacks(tmp_path):
    text = "import hashlib\nimport time\n\nhashlib.new('sha256')\ntime.monotonic_ns()\n"
    text += "hashlib.sha256(b'x')\ntime.sleep_ms(5)\ntime.ticks_diff(2, 1)\n"
    for port in ("rp2", "esp32"):
        found = probe(tmp_path, port, text)
        assert {n for n, _ in found} == {4, 5}, (port, found)
