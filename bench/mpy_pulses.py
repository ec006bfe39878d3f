# Runs inside the MicroPython VM: cost per edge of the S0 handler beside a minimal handler
# that only increments a counter, measured in the same run with the same calling pattern.
#
# On a board, pin.value() and time.ticks_ms() are C functions. Here too: ticks_ms is the real
# one, and each fake pin's value is a C bound method (io.BytesIO.tell) returning its level,
# so the figures compare handler code, not Python stand-ins for the hardware.
import io
import time
from array import array

from netmeter.pulsecounter import PulseCounter

N = 20000


class Pin:
    def __init__(self, level):
        stream = io.BytesIO(b"x")
        stream.seek(level)
        self.value = stream.tell  # a C call returning 0 or 1, like machine.Pin.value


class Minimal:
    """The least an ISR can do: count, in preallocated state, nothing else."""

    def __init__(self):
        self.counts = array("i", [0])
        self.on_edge = self._edge

    def _edge(self, pin):
        self.counts[0] += 1


def drive(handler, pins):
    # Alternating press (level 0) and release (level 1) edges: one S0 pulse per two edges.
    low, high = pins
    start = time.ticks_us()
    for _ in range(N // 2):
        handler(low)
        handler(high)
    return time.ticks_diff(time.ticks_us(), start)


def empty_loop(pins):
    low, high = pins
    start = time.ticks_us()
    for _ in range(N // 2):
        pass
    return time.ticks_diff(time.ticks_us(), start)


def measure(window):
    pins = (Pin(0), Pin(1))
    counter = PulseCounter(debounce_ms=window, ticks_ms=time.ticks_ms)
    minimal = Minimal()
    best = [1e9, 1e9, 1e9]
    for _ in range(7):
        best[0] = min(best[0], empty_loop(pins))
        best[1] = min(best[1], drive(minimal.on_edge, pins))
        best[2] = min(best[2], drive(counter.on_import_edge, pins))
    imp, _, rejected = counter.take()
    return (best[1] - best[0]) / N, (best[2] - best[0]) / N, imp, rejected


def main():
    print("edges per run: %d, best of 7 runs, loop overhead subtracted" % N)
    for label, window in (("accepted", 0), ("rejected", 10**8)):
        minimal_us, netmeter_us, imp, rejected = measure(window)
        print(
            "%s pulses: minimal handler %.3f us/edge, netmeter %.3f us/edge, ratio %.2fx "
            "(goal <= 1.5x; counted %d, rejected %d)"
            % (label, minimal_us, netmeter_us, netmeter_us / minimal_us, imp, rejected)
        )


main()
