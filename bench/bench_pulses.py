"""S0 pulse handler inside the MicroPython VM: cost per edge beside a minimal handler."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    exe = str(Path(sys.executable).parent / "micropython")
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (ROOT / "firmware", ROOT))
    proc = subprocess.run(
        [exe, str(ROOT / "bench" / "mpy_pulses.py")], env=env, capture_output=True, text=True
    )
    print("S0 edge handler in the MicroPython VM (unix port)")
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit("benchmark failed inside MicroPython (exit %d)" % proc.returncode)


if __name__ == "__main__":
    main()
