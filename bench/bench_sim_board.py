"""The firmware on the simulated board at 1-second polling: simulated seconds per wall-clock
second over a simulated day, the firmware's peak live heap, and its longest loop step."""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host.sim.run import Simulation  # noqa: E402
from host.sim.site import HOUR_MS  # noqa: E402

CONFIG = {
    "poll_period_s": 1,
    "rs485": {"baud": 115200},  # the inter-frame silence is real time even in virtual time
    "netting": {"sources": ["registers", "power", "pulses"], "billing": "registers"},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (24)")
    args = parser.parse_args(argv)
    span = int(args.hours * HOUR_MS)
    with tempfile.TemporaryDirectory() as tmp, Simulation(tmp, CONFIG) as sim:
        start = time.monotonic()
        sim.run(span, 1000)
        wall = time.monotonic() - start
        live, total = sim.heap()
        records = len(sim.records())
    print(
        "simulated board, 1-second polling, %.1f simulated hours in %.1f s wall"
        % (args.hours, wall)
    )
    print("simulated seconds per wall-clock second: %.0f" % (span / 1000 / wall))
    print("lockstep steps per second: %.0f (one Modbus poll each)" % (span / 1000 / wall))
    print("records closed: %d" % records)
    print("firmware heap: %d bytes live at most (sampled after a collect), of %d" % (live, total))


if __name__ == "__main__":
    main()
