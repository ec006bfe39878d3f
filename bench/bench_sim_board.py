"""The firmware on the simulated board at 1-second polling: simulated seconds per wall-clock
second over a simulated day, and the firmware's peak live heap, running alone and then with
a host on the link (every record pulled, status, log, trace and a signed config push)."""

import argparse
import os
import tempfile
import time
from pathlib import Path

import benchlib  # noqa: F401 - puts the project on sys.path

from host.link import Link
from host.sim.run import Simulation
from host.sim.site import HOUR_MS

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
    key = os.urandom(32)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "link.key").write_text(key.hex())
        with Simulation(tmp, CONFIG) as sim:
            start = time.monotonic()
            sim.run(span, 1000)
            wall = time.monotonic() - start
            live, total = sim.heap()
            records = len(sim.records())
            with Link.open(sim.board.device, key=key, timeout=5.0) as link:
                pulled = len(link.pull_all(0))
                link.status()
                link.log()
                link.trace()
                link.put_config(dict(CONFIG, poll_period_s=2))
            live_link, _ = sim.heap()
    print(
        "simulated board, 1-second polling, %.1f simulated hours in %.1f s wall"
        % (args.hours, wall)
    )
    print("simulated seconds per wall-clock second: %.0f" % (span / 1000 / wall))
    print("lockstep steps per second: %.0f (one Modbus poll each)" % (span / 1000 / wall))
    print("records closed: %d" % records)
    print("firmware heap, %d bytes in all (-X heapsize=%s):" % (total, sim.heapsize))
    print("  running alone: %d bytes live at most (sampled after a collect)" % live)
    print("  with a host on the link (%d records pulled, config pushed): %d" % (pulled, live_link))


if __name__ == "__main__":
    main()
