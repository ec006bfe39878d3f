"""S0 pulse handler inside the MicroPython VM: cost per edge beside a minimal handler."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host.mpy import run_file  # noqa: E402


def main():
    proc = run_file(Path(__file__).parent / "mpy_pulses.py", text=True)
    print("S0 edge handler in the MicroPython VM (unix port)")
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit("benchmark failed inside MicroPython (exit %d)" % proc.returncode)


if __name__ == "__main__":
    main()
