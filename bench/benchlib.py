"""What every bench script shares: the project on sys.path (importing this module sets it),
running a bench/mpy_*.py script inside the MicroPython VM, and reading its figures."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT / "firmware"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


def run_vm(script, *args, heapsize=None, timeout=600, what=None):
    """Run bench/<script> in the MicroPython VM; its finished process (text), or exit with
    its output and a line naming `what` failed (the script by default)."""
    from host.mpy import run_file

    proc = run_file(ROOT / "bench" / script, args, heapsize=heapsize, timeout=timeout, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit("%s failed inside MicroPython (exit %d)" % (what or script, proc.returncode))
    return proc


def print_vm(title, script, heapsize=None):
    """Print title, then what the VM script printed (its figures)."""
    proc = run_vm(script, heapsize=heapsize, what="benchmark")
    print(title)
    sys.stdout.write(proc.stdout)


def figures(text):
    """{name: float} from lines of "name value [name value ...]"; words that are not a
    number after a name are skipped."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        for i in range(0, len(words) - 1, 2):
            try:
                out[words[i]] = float(words[i + 1])
            except ValueError:
                continue
    return out
