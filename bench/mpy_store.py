# Runs inside the MicroPython VM: the record store's costs. Phases (argv[1]):
#   append DIR   us per append on the unix port's filesystem, then fill DIR to a year
#   recover DIR  boot recovery (netmeter.repair.open_store: scan, torn-tail check, chain
#                across the tail) and a full verify of a year, plus heap held and allocated
#                (run under -X heapsize)
#   day          flash writes per simulated day on littlefs over a counting 1 MB block device
import gc
import os
import sys
import time

from netmeter.atomic import write_atomic
from netmeter.store import YEAR_15MIN, RecordStore
from shared.record import Record

T0 = 1764403200


def rec(seq):
    return Record(seq, T0 + 900 * seq, 900, a_plus=seq * 7, a_minus=seq, pulses_import=seq)


def phase_append(root):
    from netmeter.repair import open_store

    store = RecordStore(root, "bench")
    open_store(store)
    n = 2000
    t = time.ticks_us()
    for seq in range(n):
        store.append(rec(seq))
    dt = time.ticks_diff(time.ticks_us(), t)
    print("append_us %.0f" % (dt / n))
    gc.collect()
    before = gc.mem_alloc()
    seq = n
    store.append(rec(seq))
    print("append_alloc_bytes %d" % (gc.mem_alloc() - before))
    t = time.ticks_us()
    for seq in range(n + 1, YEAR_15MIN):
        store.append(rec(seq))
    print("fill_s %.1f" % (time.ticks_diff(time.ticks_us(), t) / 1e6))
    t = time.ticks_us()
    k = 0
    for _ in store.records(0):
        k += 1
    dt = time.ticks_diff(time.ticks_us(), t)
    print("records_us %.1f (%d streamed)" % (dt / k, k))


def phase_recover(root):
    # Loaded after the store's modules, first: the figure is opening, not compiling it.
    from netmeter.repair import open_store, verify

    gc.collect()
    before = gc.mem_alloc()
    t = time.ticks_us()
    store = RecordStore(root, "bench")
    report = open_store(store)
    dt = time.ticks_diff(time.ticks_us(), t)
    gc.collect()
    held = gc.mem_alloc() - before
    segments = len(os.listdir(root)) - 1
    print(
        "recover_ms %.1f records %d segments %d problems %d"
        % (dt / 1000, report["records"], segments, len(report["problems"]))
    )
    print("store_heap_bytes %d" % held)
    t = time.ticks_us()
    problems = verify(store)
    dt = time.ticks_diff(time.ticks_us(), t)
    print("verify_ms %.0f problems %d" % (dt / 1000, len(problems)))
    store.append(rec(store.next_seq))  # the whole phase ran in the heap given by -X heapsize


class CountingDevice:
    """A 1 MB RAM flash for os.VfsLfs2 that counts programmed bytes and erased blocks."""

    def __init__(self, block_size=4096, blocks=256):
        self.block_size = block_size
        self.blocks = blocks
        self.data = bytearray(block_size * blocks)
        self.programmed = 0
        self.erases = 0

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        start = block * self.block_size + (offset or 0)
        self.data[start : start + len(buf)] = buf
        self.programmed += len(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.block_size
        if op == 6:
            self.erases += 1
        return 0


class WriteCounter:
    """Wraps open() so every write call's bytes are counted: what the code asks to write."""

    def __init__(self):
        self.bytes = 0
        self.calls = 0
        self._open = open

    def open(self, path, mode="r"):
        f = self._open(path, mode)
        if "w" in mode or "a" in mode or "+" in mode:
            counter = self

            class Counted:
                def write(self, data):
                    counter.bytes += len(data)
                    counter.calls += 1
                    return f.write(data)

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    f.close()

                def __getattr__(self, name):
                    return getattr(f, name)

            return Counted()
        return f


def phase_day():
    import builtins

    from netmeter.repair import open_store

    dev = CountingDevice()
    os.VfsLfs2.mkfs(dev)
    os.mount(os.VfsLfs2(dev), "/flash")
    counter = WriteCounter()
    builtins.open = counter.open
    store = RecordStore("/flash/records", "bench")
    open_store(store)
    checkpoint = bytes(296)  # + 4 bytes of CRC: the lead's ~300-byte checkpoint
    seq = 0
    days = 3
    day_stats = []
    for _day in range(days):
        p0, e0, b0, c0 = dev.programmed, dev.erases, counter.bytes, counter.calls
        for minute in range(1440):
            write_atomic("/flash/checkpoint", checkpoint)  # every 60 s
            if minute % 15 == 14:
                store.append(rec(seq))  # an interval closes
                seq += 1
                write_atomic("/flash/checkpoint", checkpoint)  # and at every close
            if minute % 60 == 59:
                store.ack(seq - 1)  # the host pulls hourly
        day_stats.append(
            (dev.programmed - p0, dev.erases - e0, counter.bytes - b0, counter.calls - c0)
        )
    builtins.open = counter._open
    programmed, erases, asked, calls = day_stats[-1]
    print("day_app_bytes %d day_write_calls %d" % (asked, calls))
    print("day_flash_programmed %d day_erases %d block %d" % (programmed, erases, dev.block_size))
    # Without checkpoints: the store's own share.
    dev2 = CountingDevice()
    os.VfsLfs2.mkfs(dev2)
    os.mount(os.VfsLfs2(dev2), "/flash2")
    store = RecordStore("/flash2/records", "bench")
    open_store(store)
    seq = 0
    for _day in range(days):
        e0, p0 = dev2.erases, dev2.programmed
        for i in range(96):
            store.append(rec(seq))
            seq += 1
            if i % 4 == 3:
                store.ack(seq - 1)
    print(
        "store_only_programmed %d store_only_erases %d" % (dev2.programmed - p0, dev2.erases - e0)
    )


if __name__ == "__main__":
    phase = sys.argv[1]
    if phase == "append":
        phase_append(sys.argv[2])
    elif phase == "recover":
        phase_recover(sys.argv[2])
    else:
        phase_day()
