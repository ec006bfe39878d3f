"""Every module that runs on a board compiles with mpy-cross, for bytecode and native targets."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOARD_SOURCES = sorted(
    p
    for d in ("firmware", "shared", "boards", "feeder", "circuitpython")
    for p in (ROOT / d).rglob("*.py")
)
MPY_CROSS = str(Path(sys.executable).parent / "mpy-cross")


def test_there_are_board_modules_to_compile():
    names = {p.relative_to(ROOT).as_posix() for p in BOARD_SOURCES}
    assert "shared/record.py" in names and "firmware/main.py" in names


def uses_native_code(path):
    text = path.read_text()
    return "@micropython.viper" in text or "@micropython.native" in text


# Native code (viper) needs a target architecture; everything else is plain bytecode too.
CASES = [
    (source, arch)
    for source in BOARD_SOURCES
    for arch in ("bytecode", "armv6m", "xtensawin")
    if not (arch == "bytecode" and uses_native_code(source))
]


def test_the_pulse_handler_is_native_code():
    assert uses_native_code(ROOT / "firmware" / "netmeter" / "pulsecounter.py")


@pytest.mark.parametrize(
    "source,arch", CASES, ids=["%s-%s" % (s.relative_to(ROOT).as_posix(), a) for s, a in CASES]
)
def test_module_compiles_with_mpy_cross(source, arch, tmp_path):
    cmd = [MPY_CROSS, "-o", str(tmp_path / "out.mpy")]
    if arch != "bytecode":
        cmd.append("-march=" + arch)
    proc = subprocess.run(cmd + [str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_mpy_cross_rejects_what_micropython_does_not_accept(tmp_path):
    # Proves the check can fail: a CPython-only construct MicroPython's compiler refuses.
    bad = tmp_path / "bad.py"
    bad.write_text("def f(a, /, b):\n    return a\n")
    proc = subprocess.run(
        [MPY_CROSS, "-o", str(tmp_path / "bad.mpy"), str(bad)], capture_output=True
    )
    assert proc.returncode != 0


def test_native_code_lives_in_the_pulse_counter_only():
    # CircuitPython refuses @micropython.viper at compile time: one module, which no
    # CircuitPython board imports (tests/test_circuitpython.py) or gets (host/drive.py).
    assert {p.name for p in BOARD_SOURCES if uses_native_code(p)} == {"pulsecounter.py"}
