"""Netting core inside the MicroPython VM: us per reading, us per close, peak heap at 64k."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAP = "64k"


def main():
    exe = str(Path(sys.executable).parent / "micropython")
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (ROOT / "firmware", ROOT))
    cmd = [exe, "-X", "heapsize=" + HEAP, str(ROOT / "bench" / "mpy_netting.py")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print("netting core in the MicroPython VM (unix port, -X heapsize=%s)" % HEAP)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit("benchmark failed inside MicroPython (exit %d)" % proc.returncode)


if __name__ == "__main__":
    main()
