# What only boot (and a test) needs after a power cut: open the record store, finishing what
# a cut interrupted and discarding a torn tail, check the chain across the tail, and verify
# the whole log on demand. A client of RecordStore's public surface (netmeter.store).
#
# The running firmware does not keep this code: the app calls it while it is built and the
# runner forgets the module after boot (netmeter.heap: its code lives in RAM when loaded
# from .mpy). docs/storage.md states what open_store repairs and why that is safe.
import os
import struct

from micropython import const

from netmeter.errlog import CHAIN, TORN_RECORD
from netmeter.store import StoreError, segment_name
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
    """Open a RecordStore after a boot: remove stray .tmp files, finish an interrupted
    deletion, discard a torn tail record, check the chain across the tail, and resume the
    store there. Returns {records, first_seq, next_seq, torn_bytes, removed, problems}."""
    anchor = store.load_state()  # None: no state yet (nothing acknowledged or deleted)
    segs, removed = _list_segments(store)
    if anchor is not None:
        # A deletion cut after the state was written: finish it (the anchor says which).
        while len(segs) > 1 and segs[0] + _size(store.segment_path(segs[0])) // SIZE <= anchor:
            os.remove(store.segment_path(segs[0]))
            removed.append(segment_name(segs.pop(0)))
    problems = []
    torn, tail_n = _cut_torn_tail(store, segs, removed)
    if segs:
        _check_tail(store, segs, anchor, problems)
        if anchor is not None and anchor != segs[0]:
            problems.append("first segment starts at seq %d, state says %d" % (segs[0], anchor))
    store.resume(segs, tail_n)
    return {
        "records": store.count,
        "first_seq": store.first_seq,
        "next_seq": store.next_seq,
        "torn_bytes": torn,
        "removed": removed,
        "problems": problems,
    }


def _size(path):
    return os.stat(path)[6]


def _records_in(path, buf):
    """Each whole record of a segment file into buf (reused), from its start."""
    with open(path, "rb") as f:
        while f.readinto(buf) == SIZE:
            yield buf


def _list_segments(store):
    """The first seqs of the store's segment files, oldest first, and the names of the stray
    .tmp files removed. Creates the store's directory if it is missing."""
    root = store.root
    try:
        names = os.listdir(root)
    except OSError:
        os.mkdir(root)
        names = ()
    segs = []
    removed = []
    for name in names:
        if name.endswith(".seg.tmp"):
            # A torn-tail rewrite cut before its rename: the segment itself is intact.
            os.remove(root + "/" + name)
            removed.append(name)
        elif name.endswith(".seg") and len(name) == len(segment_name(0)):
            segs.append(int(name[:-4]))
    segs.sort()
    return segs, removed


def _cut_torn_tail(store, segs, removed):
    """Cut the newest segment back to its last record whose CRC holds (a segment left with
    none goes, and the one before it is looked at). Returns (bytes cut, records left
    in the newest segment); segs loses the segments removed."""
    torn = 0
    buf = bytearray(SIZE)
    while segs:
        first = segs[-1]
        # Torn: trailing bytes short of a record, and trailing records whose CRC fails
        # (a cut mid-write, or garbage behind the last record). A bad record followed by
        # a good one is damage, not a tear: it stays, and verify names it.
        valid = 0
        i = 0
        for raw in _records_in(store.segment_path(first), buf):
            i += 1
            if _crc_ok(raw):
                valid = i
        size = _size(store.segment_path(first))
        if valid * SIZE < size or valid == 0:  # a segment left empty (cut after creating it)
            torn += size - valid * SIZE
            store.rewrite_prefix(first, valid)
            if valid == 0:
                removed.append(segment_name(first))
                segs.pop()
                continue
        return torn, valid
    return torn, 0


def _check_tail(store, segs, anchor, problems):
    """The chain across the newest segment, from the last link of the one before it."""
    if len(segs) > 1:
        before = store.read_record(segs[-2], segs[-1] - segs[-2] - 1)
        if before is None:
            raise StoreError("segment %s: cannot read its last record" % segment_name(segs[-2]))
        prev_seq, prev_link = segs[-1] - 1, record_link(before)
    elif anchor == segs[0] or anchor is None:
        prev_seq, prev_link = segs[0] - 1, store.anchor_link
    else:
        prev_seq, prev_link = None, None
    check = _ChainCheck(prev_seq, prev_link, problems)
    for raw in _records_in(store.segment_path(segs[-1]), bytearray(SIZE)):
        check.feed(raw)
    check.finish()


def verify(store, from_seq=None):
    """Walk the store's log from from_seq (default: its first record), streaming, and
    return the problems, each naming a seq; [] when the chain is whole."""
    problems = []
    first, end = store.first_seq, store.next_seq
    if first is None:
        return problems
    start = first if from_seq is None else max(from_seq, first)
    if start >= end:
        return problems
    if start == first:
        link = store.anchor_link
    else:
        raw = store.get(start - 1, raw=True)
        link = None if raw is None else record_link(raw)
    check = _ChainCheck(start - 1, link, problems)
    for _, raw in store.scan(start, bytearray(SIZE)):
        check.feed(raw)
    if check.prev_seq is not None and check.prev_seq + 1 < end:
        check.problem("seq gap %d..%d (records missing)" % (check.prev_seq + 1, end - 1))
    return check.finish()


def note_open(errlog, report):
    """Put what opening the store reported (torn records, chain problems) in the error log."""
    if report["torn_bytes"]:
        errlog.log(0, TORN_RECORD, "%d bytes" % report["torn_bytes"])
    for problem in report["problems"]:
        errlog.log(0, CHAIN, problem)
