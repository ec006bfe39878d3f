# The app's checkpoint: the accumulator's state and the closed records not yet stored, in one
# file written atomically. The app checkpoints before it appends closed records, so a power
# cut at any instant loses nothing: at boot, netmeter.repair.recover appends what the
# checkpoint held but the store lacks and carries the accumulator on from it (boot-only
# code, kept out of this module because this one stays in the heap while the app runs).
#
# File: JSON {"acc": the accumulator's state(), "pending": [hex of each encoded record]},
# written by netmeter.atomic.write_atomic (payload + CRC-32, renamed into place).
import json
from binascii import hexlify

from netmeter.atomic import write_atomic

FILE = "/checkpoint.json"  # under the board's fs_root


def save(path, acc, pending=(), fault=None):
    """Write acc's state and the records pending (closed, not yet appended) to path.
    fault(point), if given, is the simulator's power-cut seam on either side of the write."""
    if fault is not None:
        fault("before-checkpoint")
    state = {
        "acc": acc.state(),
        "pending": [hexlify(r.encode()).decode() for r in pending],
    }
    write_atomic(path, json.dumps(state).encode())
    if fault is not None:
        fault("after-checkpoint")
