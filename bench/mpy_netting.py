# Runs inside the MicroPython VM: cost of the netting core per reading and per interval close,
# and the peak heap while netting a simulated day of 1-second three-phase samples.
import gc
import time

import micropython

from netmeter.netting import make_accumulator

DAY = 1764374400000
PHASES = [(1500.0, 300.0), (-2200.0, 150.0), (800.0, -90.0)]


def day_at_1s(acc, watch_heap=False):
    """Net a day; with watch_heap, return the largest live heap seen right after a collect."""
    t = DAY
    imp = exp = 0
    live = 0
    start = time.ticks_us()
    for i in range(86400):
        imp += 1
        exp += i & 1
        acc.update(t, power=PHASES, registers=(imp, exp))
        t += 1000
        if watch_heap and i % 300 == 0:
            gc.collect()
            live = max(live, gc.mem_alloc())
    return live if watch_heap else time.ticks_diff(time.ticks_us(), start)


def closes(acc, count):
    # Every update crosses a 1-minute boundary and so closes one interval.
    t = DAY
    start = time.ticks_us()
    for i in range(count):
        acc.update(t, power=PHASES, registers=(i, 0))
        t += 60000
    return time.ticks_diff(time.ticks_us(), start)


def main():
    config = {"interval_min": 15, "sources": ("power", "registers"), "billing": "registers"}
    gc.collect()
    base = gc.mem_alloc()
    per_reading = day_at_1s(make_accumulator(config)) / 86400
    peak = micropython.mem_peak()
    live = day_at_1s(make_accumulator(config), watch_heap=True)
    acc = make_accumulator(dict(config, interval_min=1, max_gap_s=120))
    n = 2000
    per_close = closes(acc, n) / n - per_reading
    print("readings per day: 86400 (3 phases + 2 registers, vector summation)")
    print("us per reading: %.1f" % per_reading)
    print("us per interval close (beyond the reading): %.1f" % per_close)
    print("heap: %d bytes in total (-X heapsize); the day ran to the end in it" % heap_size())
    print(
        "live heap after collect, largest over the day: %d bytes (%d before start)" % (live, base)
    )
    print(
        "micropython.mem_peak(): %d bytes (unix port: counts allocations, frees by the GC" % peak
    )
    print("  are not subtracted, so it measures allocation traffic, not the live heap)")


def heap_size():
    return gc.mem_alloc() + gc.mem_free()


main()
