# The record store: rotation, the hash chain, torn-tail recovery, tamper detection, acks,
# capacity drops; on CPython and inside the MicroPython VM.
import os
import struct
from hashlib import sha256

from storetest import (
    fill,
    fresh_dir,
    read_bytes,
    record,
    rmtree,
    seg_path,
    write_bytes,
)

from dualtest import raises
from netmeter.repair import open_store, verify
from netmeter.store import RecordStore, StoreError
from shared.crc import crc32
from shared.record import RECORDS_DROPPED, SIZE, chain_link, decode, genesis_link


def opened(root, **kw):
    kw.setdefault("segment_records", 4)
    kw.setdefault("capacity", 1000)
    store = RecordStore(root, "meter-7", **kw)
    report = open_store(store)
    return store, report


def seqs(store, from_seq=0):
    return [r.seq for r in store.records(from_seq)]


def names(root):
    return sorted(n for n in os.listdir(root) if n.endswith(".seg"))


def reseal(raw):
    """The record bytes with a correct CRC, as a forger would write them."""
    raw = bytearray(raw)
    struct.pack_into("<I", raw, 72, crc32(bytes(raw[:72])))
    return bytes(raw)


def test_append_iterate_and_rotate_into_segments_named_by_first_seq():
    root = fresh_dir("store")
    try:
        store, report = opened(root)
        assert report["records"] == 0 and store.next_seq is None and store.first_seq is None
        fill(store, 0, 9)
        assert names(root) == ["0000000000.seg", "0000000004.seg", "0000000008.seg"]
        assert [os.stat(root + "/" + n)[6] for n in names(root)] == [4 * SIZE, 4 * SIZE, 2 * SIZE]
        assert (store.first_seq, store.next_seq, store.count) == (0, 10, 10)
        got = list(store.records())
        assert [r.seq for r in got] == list(range(10))
        assert got[3] == store.get(3) and got[3].a_plus == 1003
        assert verify(store) == []
    finally:
        rmtree(root)


def test_chain_is_sha256_of_previous_link_and_first_56_bytes_across_reopen_and_rotation():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 5)
        store, report = opened(root)  # a reboot
        assert report["records"] == 6 and report["problems"] == [] and store.next_seq == 6
        fill(store, 6, 13)
        link = sha256(b"netmeter genesis" + b"meter-7").digest()[:16]
        assert genesis_link("meter-7") == link
        for raw in store.records(0, raw=True):
            link = sha256(link + raw[:56]).digest()[:16]
            assert raw[56:72] == link
        assert store.head_link == link
        assert verify(store) == []
        # the link commits to every byte before it, seq included
        raw = next(store.records(3, raw=True))
        base = chain_link(b"\x00" * 16, raw)
        for i in range(56):
            edited = bytearray(raw)
            edited[i] ^= 0x01
            assert chain_link(b"\x00" * 16, edited) != base, "byte %d not covered" % i
    finally:
        rmtree(root)


def test_records_stream_from_any_seq():
    root = fresh_dir("store")
    try:
        store, _ = opened(root, segment_records=3)
        fill(store, 5, 17)  # a store may start at any seq
        for start in range(0, 20):
            assert seqs(store, start) == list(range(max(start, 5), 18)), start
    finally:
        rmtree(root)


def test_append_refuses_a_seq_that_does_not_follow_the_head():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 2)
        exc = raises(StoreError, store.append, record(4))
        assert "seq 4" in str(exc) and "next is 3" in str(exc)
        raises(StoreError, store.append, record(2))
        assert seqs(store) == [0, 1, 2] and store.next_seq == 3
    finally:
        rmtree(root)


def test_torn_last_record_is_discarded_and_the_next_append_continues_seq_and_chain():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 5)
        path = seg_path(root, 4)
        data = read_bytes(path)
        write_bytes(path, data[: SIZE + 30])  # record 5 cut 30 bytes in
        store, report = opened(root)
        assert report["torn_bytes"] == 30 and report["records"] == 5
        assert store.next_seq == 5 and report["problems"] == []
        fill(store, 5, 6)
        assert seqs(store) == list(range(7)) and verify(store) == []
    finally:
        rmtree(root)


def test_garbage_behind_the_last_record_is_discarded():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 5)
        head = store.head_link
        path = seg_path(root, 4)
        write_bytes(path, read_bytes(path) + b"\xa5" * 200)
        store, report = opened(root)
        assert report["torn_bytes"] == 200 and store.next_seq == 6 and store.head_link == head
        assert os.stat(path)[6] == 2 * SIZE
        fill(store, 6, 9)
        assert verify(store) == []
    finally:
        rmtree(root)


def test_a_new_segment_cut_before_its_first_record_is_whole_is_removed():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 7)
        write_bytes(seg_path(root, 8), record(8).encode()[:40])
        write_bytes(seg_path(root, 4) + ".tmp", b"half a rewrite")
        store, report = opened(root)
        assert report["torn_bytes"] == 40 and store.next_seq == 8
        assert "0000000008.seg" in report["removed"] and "0000000004.seg.tmp" in report["removed"]
        assert names(root) == ["0000000000.seg", "0000000004.seg"]
        fill(store, 8, 8)
        assert verify(store) == []
    finally:
        rmtree(root)


def test_an_edited_byte_is_named_by_seq_with_or_without_a_fixed_crc():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 11)
        path = seg_path(root, 4)
        data = bytearray(read_bytes(path))
        at = 1 * SIZE + 48  # pulses_import of record 5
        data[at] ^= 0x10
        write_bytes(path, bytes(data))
        assert verify(store) == ["seq 5: CRC mismatch (damaged record)"]
        resealed = data[:SIZE] + reseal(data[SIZE : 2 * SIZE]) + data[2 * SIZE :]
        write_bytes(path, bytes(resealed))
        assert decode(bytes(resealed[SIZE : 2 * SIZE])).pulses_import == 12 ^ 0x10
        problems = verify(store)
        assert problems == [
            "seq 5: link does not follow seq 4 (edited, inserted or deleted record)"
        ], problems
    finally:
        rmtree(root)


def test_a_deleted_record_is_named():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 11)
        path = seg_path(root, 4)
        data = read_bytes(path)
        write_bytes(path, data[:SIZE] + data[2 * SIZE :])  # record 5 removed
        problems = verify(store)
        assert "seq gap 5 (record missing)" in problems, problems
        assert "seq 6: link does not follow seq 4 (edited, inserted or deleted record)" in problems
        # from any start the rest of the chain still checks
        assert verify(store, from_seq=8) == []
    finally:
        rmtree(root)


def test_an_inserted_forged_record_with_a_good_crc_is_named():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 11)
        r5 = store.get(5)
        forged = record(6, a_plus=999999)
        forged.link = chain_link(r5.link, forged.encode())  # even a correct link from 5
        path = seg_path(root, 4)
        data = read_bytes(path)
        write_bytes(path, data[: 2 * SIZE] + forged.encode() + data[2 * SIZE :])
        problems = verify(store)
        assert "seq 6: follows seq 6 (inserted or duplicated record)" in problems, problems
        assert "seq 6: link does not follow seq 6 (edited, inserted or deleted record)" in problems
        # In the tail, open() keeps the forged record (its CRC is good) and reports it.
        fill(store, 12, 12)
        tail = seg_path(root, 12)
        data = read_bytes(tail)
        write_bytes(tail, data + reseal(record(13).encode()))
        store, report = opened(root)
        assert report["torn_bytes"] == 0
        assert (
            "seq 13: link does not follow seq 12 (edited, inserted or deleted record)"
            in report["problems"]
        ), report
    finally:
        rmtree(root)


def test_a_segment_left_empty_by_a_cut_is_removed_and_the_chain_goes_on():
    # A cut right after a rotation created the new segment file, before any byte of it.
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 7)  # segments 0 and 4, both full
        write_bytes(seg_path(root, 8), b"")
        store, report = opened(root)
        assert report["removed"] == ["0000000008.seg"] and report["torn_bytes"] == 0
        assert store.next_seq == 8 and report["problems"] == []
        fill(store, 8, 9)
        assert seqs(store) == list(range(10)) and verify(store) == []
    finally:
        rmtree(root)
    root = fresh_dir("store")
    try:  # the very first segment: the chain starts at the genesis link
        write_bytes(seg_path(root, 0), b"")
        store, report = opened(root)
        assert report["removed"] == ["0000000000.seg"] and store.next_seq is None
        fill(store, 0, 1)
        assert verify(store) == [] and store.get(0).link == chain_link(
            genesis_link("meter-7"), read_bytes(seg_path(root, 0))[:56]
        )
    finally:
        rmtree(root)


def test_ack_deletes_only_segments_whose_records_are_all_acknowledged():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 13)  # segments 0, 4, 8, 12
        assert store.ack(5) == 4  # 0..3 deleted; 4 and 5 acked but 6, 7 are not
        assert names(root) == ["0000000004.seg", "0000000008.seg", "0000000012.seg"]
        assert seqs(store) == list(range(4, 14)) and store.acked_seq == 5
        assert store.ack(2) == 0  # an old ack changes nothing
        assert store.ack(11) == 8
        assert names(root) == ["0000000012.seg"]
        assert store.ack(13) == 0  # the segment being filled is never deleted
        assert store.ack(99) == 0 and store.acked_seq == 13  # capped at the head
        assert verify(store) == []
        store, report = opened(root)  # the ack point and the chain anchor persist
        assert store.acked_seq == 13 and report["problems"] == [] and verify(store) == []
        fill(store, 14, 16)  # rotation: segment 12 still holds unacked 14 and 15
        assert names(root) == ["0000000012.seg", "0000000016.seg"]
        assert store.ack(15) == 4 and names(root) == ["0000000016.seg"]
        assert seqs(store) == [16]
    finally:
        rmtree(root)


def test_an_ack_cut_between_state_and_deletion_is_finished_on_open():
    root = fresh_dir("store")
    try:
        store, _ = opened(root)
        fill(store, 0, 9)
        kept = read_bytes(seg_path(root, 0))
        store.ack(5)
        write_bytes(seg_path(root, 0), kept)  # as if the cut came before the remove
        store, report = opened(root)
        assert report["removed"] == ["0000000000.seg"] and report["problems"] == []
        assert seqs(store) == list(range(4, 10)) and verify(store) == []
    finally:
        rmtree(root)


def test_a_full_store_drops_its_oldest_segment_and_flags_the_next_record():
    root = fresh_dir("store")
    try:
        store, _ = opened(root, capacity=8)  # keeps >= 8, holds <= 8 + 4 - 1 = 11
        fill(store, 0, 10)
        assert store.take_pending_flags() == 0 and store.take_events() == []
        stored = store.append(record(11))  # the 12th record: segment 0 (unacked) goes
        assert stored.flags & RECORDS_DROPPED == 0
        assert store.take_events() == [("dropped", 0, 3)] and store.last_drop == (0, 3)
        assert store.take_pending_flags() == RECORDS_DROPPED
        assert store.take_pending_flags() == 0  # once
        nxt = record(12)
        nxt.flags |= RECORDS_DROPPED
        assert store.append(nxt).flags & RECORDS_DROPPED
        assert store.append(record(13)).flags & RECORDS_DROPPED == 0
        assert store.first_seq == 4 and store.count == 10 and store.dropped_total == 4
        assert verify(store) == []
        # after acks, a drop for room counts only what the host never had
        store.ack(9)
        fill(store, 14, 17)
        assert store.take_events() == [] and store.dropped_total == 4
    finally:
        rmtree(root)


def test_a_pending_drop_flag_survives_a_reboot_and_is_set_even_if_the_app_forgets():
    root = fresh_dir("store")
    try:
        store, _ = opened(root, capacity=8)
        fill(store, 0, 11)  # the drop happened while appending 11
        store, report = opened(root, capacity=8)  # reboot before record 12
        assert report["problems"] == [] and store.last_drop == (0, 3)
        assert store.take_pending_flags() == RECORDS_DROPPED
        assert store.append(record(12)).flags & RECORDS_DROPPED  # the app forgot to OR it in
        store, _ = opened(root, capacity=8)
        assert store.take_pending_flags() == 0
        assert [r.seq for r in store.records() if r.flags & RECORDS_DROPPED] == [12]
    finally:
        rmtree(root)


def test_bad_configuration_is_refused():
    exc = raises(ValueError, RecordStore, "/nowhere", "x", capacity=3, segment_records=4)
    assert "segment_records" in str(exc)
    raises(ValueError, RecordStore, "/nowhere", "x", genesis=b"short")
    store = RecordStore("/nowhere", "x")
    assert "open_store()" in str(raises(StoreError, store.append, record(0)))
