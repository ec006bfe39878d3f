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


class Checkpoint:
    """Where and how often the app checkpoints: save() on every close of records and at
    least every period_ms. fault(point) is the simulator's power-cut seam (or None)."""

    def __init__(self, path, period_ms, fault=None):
        self.path = path
        self.period_ms = period_ms
        self.last_ms = None
        self.fault = fault

    def due(self, t):
        return self.last_ms is None or t - self.last_ms >= self.period_ms

    def save(self, t, acc, pending=()):
        """Write acc's state and the records pending (closed, not yet appended)."""
        fault = self.fault
        if fault is not None:
            fault("before-checkpoint")
        state = {
            "acc": acc.state(),
            "pending": [hexlify(r.encode()).decode() for r in pending],
        }
        write_atomic(self.path, json.dumps(state).encode())
        self.last_ms = t
        if fault is not None:
            fault("after-checkpoint")
