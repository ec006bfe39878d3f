# What only boot (and a test) needs after a power cut: open the record store, checking and
# repairing what a cut left, verify its chain, and carry the app on from its checkpoint.
#
# The running firmware does not keep this code: the runner forgets the module after boot
# (its code lives in RAM when loaded from .mpy). RecordStore.open()/verify() and App bring
# it back on demand. docs/storage.md states what open() repairs and why that is safe.
import json
import os
import struct
from binascii import unhexlify

from micropython import const

from netmeter.atomic import read_atomic
from netmeter.errlog import CHAIN, TORN_RECORD
from netmeter.netting import make_accumulator
from netmeter.store import _seg_name, _size
from shared.crc import crc32
from shared.record import BODY_SIZE, SIZE, RecordError, chain_link, decode, record_link

_SEQ_AT = const(4)
_MAX_PROBLEMS = const(100)


def _crc_ok(buf):
    (stored,) = struct.unpack_from("<I", buf, BODY_SIZE)
    return stored == crc32(memoryview(buf)[:BODY_SIZE])


def _seq_of(buf):
    return struct.unpack_from("<I", buf, _SEQ_AT)[0]


class _ChainCheck:
    """Consumes raw records in file order and names every break: CRC, seq, link."""

    def __init__(self, prev_seq, prev_link, problems):
        self.prev_seq = prev_seq  # None: the first record's seq is taken as it is
        self.prev_link = prev_link  # None: the first record's link is not checked
        self.problems = problems
        self.more = 0

    def problem(self, text):
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more += 1

    def feed(self, buf):
        expected = None if self.prev_seq is None else self.prev_seq + 1
        if not _crc_ok(buf):
            seq = expected if expected is not None else _seq_of(buf)
            self.problem("seq %d: CRC mismatch (damaged record)" % seq)
            self.prev_seq = seq
            self.prev_link = record_link(buf)
            return
        seq = _seq_of(buf)
        if expected is not None and seq != expected:
            if seq > expected:
                if seq == expected + 1:
                    self.problem("seq gap %d (record missing)" % expected)
                else:
                    self.problem("seq gap %d..%d (records missing)" % (expected, seq - 1))
            else:
                self.problem(
                    "seq %d: follows seq %d (inserted or duplicated record)" % (seq, self.prev_seq)
                )
        try:
            decode(buf)
        except RecordError as exc:
            self.problem("seq %d: %s" % (seq, exc))
        link = record_link(buf)
        if self.prev_link is not None and chain_link(self.prev_link, buf) != link:
            self.problem(
                "seq %d: link does not follow seq %s (edited, inserted or deleted record)"
                % (seq, "%d" % self.prev_seq if self.prev_seq is not None else "before it")
            )
        self.prev_seq = seq
        self.prev_link = link

    def finish(self):
        if self.more:
            self.problems.append("... and %d more problems" % self.more)
        return self.problems


# -- the record store ---------------------------------------------------------------------


def open_store(store):
    """RecordStore.open(): scan the directory, finish an interrupted deletion, discard a
    torn tail record and check the chain across the tail."""
    if _size(store.root) < 0:
        os.mkdir(store.root)
    has_state = store._load_state()
    segs = []
    removed = []
    for name in os.listdir(store.root):
        if name.endswith(".seg.tmp"):
            # A torn-tail rewrite cut before its rename: the segment itself is intact.
            os.remove(store.root + "/" + name)
            removed.append(name)
        elif name.endswith(".seg") and len(name) == 14:
            segs.append(int(name[:10]))
    segs.sort()
    if has_state:
        # A deletion cut after the state was written: finish it (the anchor says which).
        while segs and store._anchor_seq is not None:
            first = segs[0]
            n = _size(store._path(first)) // SIZE
            if len(segs) > 1 and first + n <= store._anchor_seq:
                os.remove(store._path(first))
                removed.append(_seg_name(first))
                segs.pop(0)
            else:
                break
    store._segs = segs
    problems = []
    torn = _recover_tail(store, problems, removed)
    if store._segs:
        if not has_state or store._anchor_seq != store._segs[0]:
            if has_state:
                problems.append(
                    "first segment starts at seq %d, state says %d"
                    % (store._segs[0], store._anchor_seq)
                )
            store._anchor_seq = store._segs[0]
    elif has_state:
        store._next = store._anchor_seq
        store._head = store._anchor_link
    if store._flag_seq and store._next is not None and store._next > store._flag_seq:
        store._flag_seq = 0  # the flagged record is already stored
    store._opened = True
    return {
        "records": store.count,
        "first_seq": store.first_seq,
        "next_seq": store._next,
        "torn_bytes": torn,
        "removed": removed,
        "problems": problems,
    }


def _recover_tail(store, problems, removed):
    """Find the tail's last whole record in sequence; rewrite without what follows it."""
    torn = 0
    buf = store._buf
    segs = store._segs
    while segs:
        first = segs[-1]
        path = store._path(first)
        size = _size(path)
        # Torn: trailing bytes short of a record, and trailing records whose CRC fails
        # (a cut mid-write, or garbage behind the last record). A bad record followed by
        # a good one is damage, not a tear: it stays, and verify names it.
        valid = 0
        with open(path, "rb") as f:
            i = 0
            while store._read_into(f, buf):
                i += 1
                if _crc_ok(buf):
                    valid = i
        keep = valid * SIZE
        if keep < size:
            torn += size - keep
            store._rewrite_prefix(path, keep)
            if keep == 0:
                removed.append(_seg_name(first))
                segs.pop()
                continue
        store._tail_n = valid
        break
    if not segs:
        store._tail_n = 0
        return torn
    # The chain across the tail, from the last link of the segment before it.
    n = len(segs)
    if n > 1:
        prev_seq = segs[-1] - 1
        prev_link = store._last_link_of(n - 2)
    elif store._anchor_seq == segs[0] or store._anchor_seq is None:
        prev_seq, prev_link = segs[0] - 1, store._anchor_link
    else:
        prev_seq, prev_link = None, None
    check = _ChainCheck(prev_seq, prev_link, problems)
    with open(store._path(segs[-1]), "rb") as f:
        for _ in range(store._tail_n):
            store._read_into(f, buf)
            check.feed(buf)
    check.finish()
    store._next = segs[-1] + store._tail_n
    store._head = record_link(buf)
    return torn


def verify(store, from_seq=None):
    """RecordStore.verify(): the problems found walking the log from from_seq."""
    problems = []
    segs = store._segs
    if not segs:
        return problems
    start = segs[0] if from_seq is None else max(from_seq, segs[0])
    if start >= store._next:
        return problems
    if start == segs[0]:
        check = _ChainCheck(start - 1, store._anchor_link, problems)
    else:
        i = store._seg_index(start - 1)
        raw = store._read_at(segs[i], start - 1 - segs[i])
        link = None if raw is None else record_link(raw)
        check = _ChainCheck(start - 1, link, problems)
    for _, raw in store._scan(start, bytearray(SIZE)):
        check.feed(raw)
    if check.prev_seq is not None and check.prev_seq + 1 < store._next:
        check.problem("seq gap %d..%d (records missing)" % (check.prev_seq + 1, store._next - 1))
    return check.finish()


# -- the app ------------------------------------------------------------------------------


def recover(app):
    """App boot: carry on from the checkpoint; append what it held but the store lacks."""
    payload = read_atomic(app.checkpoint_path)
    store = app.store
    if payload is None:
        app.acc.seq = store.next_seq or 0
        return
    state = json.loads(payload)
    app.acc.restore(state["acc"])
    for raw in state["pending"]:
        record = decode(unhexlify(raw))
        if store.next_seq is None or record.seq == store.next_seq:
            record.link = bytes(16)
            store.append(record)
    if store.next_seq is not None and store.next_seq != app.acc.seq:
        # The store went on past this checkpoint (or lost its tail): trust the store.
        app.errlog.log(0, CHAIN, "checkpoint seq %d, store %d" % (app.acc.seq, store.next_seq))
        app.acc = make_accumulator(app.netting_config)
        app.acc.seq = store.next_seq


def note_open(app, report):
    """Put what opening the store reported (torn records, chain problems) in the error log."""
    if report["torn_bytes"]:
        app.errlog.log(0, TORN_RECORD, "%d bytes" % report["torn_bytes"])
    for problem in report["problems"]:
        app.errlog.log(0, CHAIN, problem)
