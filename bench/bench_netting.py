"""Netting core inside the MicroPython VM: us per reading, us per close, peak heap at 64k."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host.mpy import run_file  # noqa: E402

HEAP = "64k"


def main():
    proc = run_file(Path(__file__).parent / "mpy_netting.py", heapsize=HEAP, text=True)
    print("netting core in the MicroPython VM (unix port, -X heapsize=%s)" % HEAP)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit("benchmark failed inside MicroPython (exit %d)" % proc.returncode)


if __name__ == "__main__":
    main()
