# Runs inside the MicroPython VM: the record store's costs. Phases (argv[1]):
#   append DIR   us per append on the unix port's filesystem, then fill DIR to a year
#   recover DIR  boot recovery (netmeter.repair.open_store: scan, torn-tail check, chain
#                across the tail) and a full verify of a year, plus heap held and allocated
#                (run under -X heapsize)
#   rp2day STAGED POLL_S HOST_S FAIL_S REJECT_S
#                flash block operations per simulated day of the firmware itself (the real
#                App: checkpoint policy, atomic writes, store, error log) on littlefs as the
#                rp2 port mounts it (1408 KB of 4 KB erase blocks, progsize=256: the flash's
#                256-byte page), after a deploy of STAGED (host.deploy.stage's output)
import gc
import os
import sys
import time

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
    """A RAM flash for os.VfsLfs2 that counts programs (writeblocks
    calls: one flash program operation each, as rp2.Flash does them), programmed bytes and
    erased blocks."""

    def __init__(self, block_size, blocks):
        self.block_size = block_size
        self.blocks = blocks
        self.data = bytearray(block_size * blocks)
        self.programmed = 0
        self.programs = 0
        self.erases = 0

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        start = block * self.block_size + (offset or 0)
        self.data[start : start + len(buf)] = buf
        self.programmed += len(buf)
        self.programs += 1

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.block_size
        if op == 6:
            self.erases += 1
        return 0


# The Pico's filesystem: MicroPython's rp2 port gives littlefs 1408 KB of the 2 MB flash
# (352 erase blocks of 4 KB) and mounts it with progsize=256, the flash's page.
PICO_BLOCKS = 352
PICO_PROGSIZE = 256


class Fake:
    pass


def pico_hardware(root):
    hw = Fake()
    hw.name = "rp2_pico"
    hw.fs_root = root
    hw.pulses = Fake()
    hw.pulses.rejected = 0  # bounces the next take() reports
    hw.pulses.take = lambda: (0, 0, hw.pulses.rejected)
    hw.rs485 = Fake()
    hw.rs485.baud = 9600
    hw.watchdog = Fake()
    hw.watchdog.feed = lambda: None
    hw.clock = Fake()
    hw.clock.is_set = True
    return hw


def poll_result(t_s, failed):
    from netmeter.poller import PollResult
    from netmeter.rtu import ResponseTimeout

    r = PollResult(0)
    if failed:
        r.errors.append((None, ResponseTimeout("timeout: no reply within 200 ms")))
        return r
    r.values = {"p_l1": 1000.0, "q_l1": 100.0, "p_l2": 1000.0, "q_l2": 0.0}
    r.values.update({"p_l3": -500.0, "q_l3": 0.0})
    count = t_s * 1500 // 3600  # 1.5 kW net import, in Wh counts
    r.counts = {"import_energy": (count, 32), "export_energy": (0, 32)}
    return r


def copy_tree(src, dst):
    os.mkdir(dst)
    for name in sorted(os.listdir(src)):
        path = src + "/" + name
        if os.stat(path)[0] & 0x4000:
            copy_tree(path, dst + "/" + name)
        else:
            with open(path, "rb") as f, open(dst + "/" + name, "wb") as out:
                out.write(f.read())


def deploy(staged, config):
    """What `host deploy` writes: lib/ (the compiled modules staged in `staged`), main.py,
    config.json and link.key. Small files stay inline in the root directory's metadata,
    which every checkpoint's commits then share."""
    import json

    copy_tree(staged + "/lib", "/pico/lib")
    with open(staged + "/main.py", "rb") as src, open("/pico/main.py", "wb") as dst:
        dst.write(src.read())
    with open("/pico/config.json", "w") as f:
        f.write(json.dumps(dict(config, board="rp2_pico", rs485={"baud": 9600})))
    with open("/pico/link.key", "w") as f:
        f.write("00" * 32 + "\n")


def phase_rp2day(staged, poll_s, host_every_s, fail_every_s, reject_every_s):
    """Days of the firmware on a Pico's littlefs: polls every poll_s; every host_every_s (0:
    never) a host's signed ACK, which stores the link's auth counter and the ack; a failed
    poll every fail_every_s and S0 bounces rejected every reject_every_s (0: never), which
    the error log records (each code at most once a minute). Prints the last day's block
    operations and the checkpoint's size."""
    from netmeter.app import App
    from netmeter.link import Counter
    from netmeter.linkdevice import COUNTER_FILE

    dev = CountingDevice(4096, PICO_BLOCKS)
    os.VfsLfs2.mkfs(dev, progsize=PICO_PROGSIZE)
    os.mount(os.VfsLfs2(dev, progsize=PICO_PROGSIZE), "/pico")
    config = {"poll_period_s": poll_s, "netting": {"interval_min": 15}, "device_id": "bench"}
    config["board"] = "rp2_pico"
    deploy(staged, config)
    from shared.config import resolve

    settings, regmap = resolve(config)
    print("rp2_deploy_erases %d rp2_deploy_programs %d" % (dev.erases, dev.programs))
    print("rp2_used_blocks %d" % (PICO_BLOCKS - os.statvfs("/pico")[3]))
    hw = pico_hardware("/pico")
    app = App(hw, settings, regmap)
    counter = Counter("/pico/" + COUNTER_FILE)
    t0_ms = T0 * 1000
    days = 3
    day = []
    t_s = 0
    for _ in range(days):
        e0, p0, b0 = dev.erases, dev.programs, dev.programmed
        for _ in range(86400 // poll_s):
            failed = fail_every_s and t_s % fail_every_s == 0
            hw.pulses.rejected = 1 if reject_every_s and t_s % reject_every_s == 0 else 0
            app.feed(t0_ms + t_s * 1000, poll_result(t_s, failed))
            t_s += poll_s
            if host_every_s and t_s % host_every_s == 0 and app.store.next_seq:
                counter.store(counter.value + 1)  # as the link server does for a signed ACK
                app.store.ack(app.store.next_seq - 1)
        day.append((dev.erases - e0, dev.programs - p0, dev.programmed - b0))
    erases, programs, programmed = day[-1]
    print("rp2_erases %d rp2_programs %d rp2_programmed %d" % (erases, programs, programmed))
    print("rp2_checkpoint_bytes %d" % os.stat("/pico/checkpoint.json")[6])
    print("rp2_records %d" % app.store.next_seq)
    from netmeter.store import SEGMENT_RECORDS
    from shared.record import SIZE as RECORD_SIZE

    print(
        "rp2_capacity %d rp2_segment_records %d rp2_record_bytes %d"
        % (settings["capacity"], SEGMENT_RECORDS, RECORD_SIZE)
    )
    # Reboots (a power cut, a reset): mount, the App's boot (recovery, store open), a poll.
    boots = 5
    e0, p0 = dev.erases, dev.programs
    for _ in range(boots):
        os.umount("/pico")
        os.mount(os.VfsLfs2(dev, progsize=PICO_PROGSIZE), "/pico")
        app = App(pico_hardware("/pico"), settings, regmap)
        app.feed(t0_ms + t_s * 1000, poll_result(t_s, False))
        t_s += poll_s
    print(
        "rp2_boot_erases %.1f rp2_boot_programs %.1f"
        % ((dev.erases - e0) / boots, (dev.programs - p0) / boots)
    )
    os.umount("/pico")


if __name__ == "__main__":
    phase = sys.argv[1]
    if phase == "rp2day":
        phase_rp2day(sys.argv[2], *[int(a) for a in sys.argv[3:7]])
        sys.exit(0)
    if phase == "append":
        phase_append(sys.argv[2])
    elif phase == "recover":
        phase_recover(sys.argv[2])
    else:
        raise SystemExit("unknown phase %r: append, recover or rp2day" % phase)
