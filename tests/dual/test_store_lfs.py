# Power cuts on littlefs: the record store on os.VfsLfs2 over a RAM block device that
# loses power after N block operations (the cut write lands half programmed), for every N
# through appends, rotations, acks and capacity drops. MicroPython only: CPython has no
# littlefs; there each test returns at once.
import os

from storetest import RamBlockDevice, record

from dualtest import RUNTIME
from netmeter.repair import open_store, verify
from netmeter.store import RecordStore
from shared.record import RECORDS_DROPPED

MOUNT = "/netmeter_lfs_test"
KW = {"capacity": 6, "segment_records": 3}  # keeps >= 6, holds <= 8: drops come quickly
PRELOAD = 5  # records 0..4 on the image before the cut workload starts


def mount(data):
    try:
        os.umount(MOUNT)
    except OSError:
        pass
    dev = RamBlockDevice(512, 64, data)
    os.mount(os.VfsLfs2(dev), MOUNT)
    return dev


def base_image():
    dev = RamBlockDevice(512, 64)
    os.VfsLfs2.mkfs(dev)
    mount(dev.data)
    store = RecordStore(MOUNT + "/records", "lfs", **KW)
    open_store(store)
    for seq in range(PRELOAD):
        store.append(record(seq))
    os.umount(MOUNT)
    return dev.data


def workload(store, log):
    """Appends 5..29, acking every 4th seq as a host would; log says what completed."""
    for seq in range(PRELOAD, 30):
        log["attempt"] = ("append", seq)
        rec = record(seq)
        rec.flags |= store.take_pending_flags()
        store.append(rec)
        log["appended"].append(seq)
        for ev in store.take_events():
            log["dropped"].append((ev[1], ev[2]))
        if seq % 4 == 3:
            log["attempt"] = ("ack", seq - 2)
            log["ack_tried"] = seq - 2
            store.ack(seq - 2)
    log["attempt"] = None


def check_after_cut(n, log):
    store = RecordStore(MOUNT + "/records", "lfs", **KW)
    report = open_store(store)
    where = "cut after %d block ops during %r" % (n, log["attempt"])
    assert report["problems"] == [], (where, report)
    assert verify(store) == [], (where, verify(store))
    stored = [r.seq for r in store.records()]
    last_done = log["appended"][-1] if log["appended"] else PRELOAD - 1
    # the record being written when the power went is there whole or not at all
    assert store.next_seq in (last_done + 1, last_done + 2), (where, store.next_seq)
    assert stored == list(range(store.first_seq, store.next_seq)), (where, stored)
    # nothing is missing unless the host acknowledged it or a drop says so
    dropped = list(log["dropped"])
    if store.last_drop:
        dropped.append(store.last_drop)
    for seq in range(0, last_done + 1):
        if seq in stored or seq <= log["ack_tried"]:
            continue
        assert any(a <= seq <= b for a, b in dropped), (where, "seq %d lost silently" % seq)
    for rec in store.records():
        expect = record(rec.seq)
        assert (rec.a_plus, rec.q3, rec.start_utc) == (expect.a_plus, expect.q3, expect.start_utc)
    # a drop that the power cut interrupted still flags a later record
    if store.last_drop:
        flagged = [r.seq for r in store.records() if r.flags & RECORDS_DROPPED]
        pending = store.take_pending_flags() == RECORDS_DROPPED
        assert pending or [s for s in flagged if s > store.last_drop[1]], (where, flagged)
    # and the log goes on: the next append continues seq and chain
    store.append(record(store.next_seq))
    assert verify(store) == [], where


def test_no_record_is_lost_or_torn_by_a_power_cut_at_any_block_operation():
    if RUNTIME != "micropython":
        return
    image = base_image()
    n = 0
    while True:
        dev = mount(bytearray(image))
        dev.cut_after = n
        log = {"appended": [], "dropped": [], "ack_tried": -1, "attempt": None}
        store = RecordStore(MOUNT + "/records", "lfs", **KW)
        try:
            open_store(store)
            workload(store, log)
        except OSError:
            pass
        finished = log["attempt"] is None
        # Power back on: a fresh mount of a copy of what reached the flash (the old mount's
        # open files may still be closed by the GC; their device is dead, not ours).
        mount(bytearray(dev.data))
        check_after_cut(n, log)
        if finished:
            break
        n += 1
    os.umount(MOUNT)
    assert n > 100, "only %d cut points: the workload did not reach the flash" % n
