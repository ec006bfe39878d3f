# Where closed interval records go: a hash-chained, append-only log of fixed-size records
# in segment files on the board's filesystem, safe against a power cut at any instant.
#
# docs/storage.md states the file layout, what the chain hashes and the invariants that
# the code below keeps; tests/dual/test_store.py proves them on both runtimes. Opening a
# store after a boot (finishing what a cut interrupted) and verifying its chain are
# netmeter.repair's: boot-only code, a client of the public surface below.
import os
import struct

from micropython import const

from netmeter.atomic import read_atomic, write_atomic
from shared.crc import crc32
from shared.record import (
    BODY_SIZE,
    LINK_AT,
    LINK_SIZE,
    RECORDS_DROPPED,
    SIZE,
    RecordError,
    chain_link,
    decode,
    genesis_link,
    record_link,
)

YEAR_15MIN = const(35040)  # one year of 15-minute intervals
SEGMENT_RECORDS = const(192)  # two days at 15 minutes: 14,592 bytes per segment file
_STATE_VERSION = const(1)
# version, ack_next, anchor_seq, drop_flag_seq, dropped_total, last_drop_first,
# last_drop_last, anchor_link
_STATE = "<BIIIIII16s"
_NONE = const(0xFFFFFFFF)
_ZERO_LINK = bytes(LINK_SIZE)


class StoreError(Exception):
    pass


def segment_name(first_seq):
    """The file name of the segment whose first record is first_seq."""
    return "%010d.seg" % first_seq


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


class RecordStore:
    """Append-only, hash-chained record log in segment files named by their first seq.

    capacity: records always kept. The store drops its oldest segment (acknowledged or not)
    only when an append would take it past capacity + segment_records - 1 records, so the
    newest `capacity` records always survive; a drop is never silent (take_pending_flags,
    take_events, the persisted state)."""

    def __init__(
        self,
        root,
        device_id,
        capacity=YEAR_15MIN,
        segment_records=SEGMENT_RECORDS,
        genesis=None,
    ):
        if segment_records < 1 or capacity < segment_records:
            raise ValueError(
                "capacity=%d, segment_records=%d: need 1 <= segment_records <= capacity"
                % (capacity, segment_records)
            )
        self.root = root
        self.capacity = capacity
        self.segment_records = segment_records
        self.genesis = genesis if genesis is not None else genesis_link(device_id)
        if len(self.genesis) != LINK_SIZE:
            raise ValueError("genesis must be %d bytes" % LINK_SIZE)
        self._buf = bytearray(SIZE)  # reused by every single-record read
        self._segs = []  # first seq of each segment file, oldest first
        self._tail_n = 0  # records in the newest segment
        self._next = None  # seq the next append must carry; None: any (fresh store)
        self._head = self.genesis
        self._ack_next = 0  # every seq below this is acknowledged by the host
        self._anchor_seq = None  # the first seq kept; anchor_link is the link before it
        self._anchor_link = self.genesis
        self._flag_seq = 0  # the first record at or after this seq carries RECORDS_DROPPED
        self._flag_taken = False
        self.dropped_total = 0
        self.last_drop = None  # (first, last) seq of the last drop for capacity
        self._events = []
        self._opened = False

    # -- segments: what repair and reading use ------------------------------------------

    def segment_path(self, first_seq):
        return self.root + "/" + segment_name(first_seq)

    def read_record(self, first_seq, index, buf=None):
        """The raw record at index of segment first_seq into buf (self._buf); None if short."""
        buf = self._buf if buf is None else buf
        try:
            with open(self.segment_path(first_seq), "rb") as f:
                f.seek(index * SIZE)
                if f.readinto(buf) == SIZE:
                    return buf
        except OSError:
            pass
        return None

    def rewrite_prefix(self, first_seq, n):
        """Keep the first n records of segment first_seq: copy them to NAME.tmp, then rename
        it over the segment (n == 0 removes it). A cut leaves the segment untouched (plus a
        .tmp that repair removes) or the new file."""
        path = self.segment_path(first_seq)
        if n == 0:
            os.remove(path)
            return
        tmp = path + ".tmp"
        buf = self._buf
        with open(path, "rb") as src:
            with open(tmp, "wb") as dst:
                for _ in range(n):
                    src.readinto(buf)
                    dst.write(buf)
        os.rename(tmp, path)

    def _seg_count(self, i):
        if i == len(self._segs) - 1:
            return self._tail_n
        return self._segs[i + 1] - self._segs[i]

    def _last_link_of(self, i):
        """Stored link of the last record of segment i."""
        raw = self.read_record(self._segs[i], self._seg_count(i) - 1)
        if raw is None:
            raise StoreError(
                "segment %s: cannot read its last record" % segment_name(self._segs[i])
            )
        return record_link(raw)

    # -- persisted state (ack point, chain anchor, pending drop flag) ----------------------

    def _state_path(self):
        return self.root + "/state"

    def load_state(self):
        """Read the persisted state (ack point, anchor, pending drop). Returns its anchor seq
        (the first seq kept), or None when there is no whole state, and then nothing changes."""
        payload = read_atomic(self._state_path())
        if payload is None or len(payload) != struct.calcsize(_STATE):
            return None
        v = struct.unpack(_STATE, payload)
        if v[0] != _STATE_VERSION:
            return None
        self._ack_next = v[1]
        self._anchor_seq = v[2]
        self._flag_seq = v[3]
        self.dropped_total = v[4]
        self.last_drop = None if v[5] == _NONE else (v[5], v[6])
        self._anchor_link = bytes(v[7])
        return self._anchor_seq

    def _save_state(self):
        drop = self.last_drop or (_NONE, _NONE)
        write_atomic(
            self._state_path(),
            struct.pack(
                _STATE,
                _STATE_VERSION,
                self._ack_next,
                self._anchor_seq,
                self._flag_seq,
                self.dropped_total,
                drop[0],
                drop[1],
                self._anchor_link,
            ),
        )

    # -- resuming after a boot -----------------------------------------------------------------

    def resume(self, segs, tail_n):
        """Take up the log as repair left it (after load_state): segs, the first seqs of the
        segment files oldest first, every one whole, and tail_n (>= 1) records in the newest. The
        head is the newest record's stored link; appending is allowed from here on."""
        self._segs = segs
        if segs:
            self._tail_n = tail_n
            self._next = segs[-1] + tail_n
            self._head = self._last_link_of(len(segs) - 1)
            self._anchor_seq = segs[0]
        else:
            self._tail_n = 0
            if self._anchor_seq is not None:  # everything kept was deleted: go on from it
                self._next = self._anchor_seq
                self._head = self._anchor_link
        if self._flag_seq and self._next is not None and self._next > self._flag_seq:
            self._flag_seq = 0  # the flagged record is already stored
        self._opened = True

    # -- the public state --------------------------------------------------------------------

    @property
    def first_seq(self):
        return self._segs[0] if self._segs else None

    @property
    def next_seq(self):
        """The seq the next append must carry; None for a store that never held a record."""
        return self._next

    @property
    def head_link(self):
        """The chain head: the link of the newest record (the genesis link when empty)."""
        return self._head

    @property
    def count(self):
        if not self._segs:
            return 0
        return self._next - self._segs[0]

    @property
    def acked_seq(self):
        """The highest acknowledged seq, or None."""
        return self._ack_next - 1 if self._ack_next else None

    @property
    def anchor_link(self):
        """The link before first_seq: where a verifier of the stored log starts."""
        return self._anchor_link

    # -- append ------------------------------------------------------------------------------

    def append(self, record):
        """Chain, encode and write one record (one write call); returns it with link set."""
        if not self._opened:
            raise StoreError("open_store() the store before appending")
        if self._next is not None and record.seq != self._next:
            raise StoreError(
                "record seq %d does not follow the stored head (next is %d)"
                % (record.seq, self._next)
            )
        rotate = not self._segs or self._tail_n >= self.segment_records
        carries_flag = self._flag_seq and record.seq >= self._flag_seq
        if carries_flag:
            record.flags |= RECORDS_DROPPED
        record.link = _ZERO_LINK
        data = bytearray(record.encode())  # validates every field before anything changes
        self._make_room(record.seq, rotate)
        link = chain_link(self._head, data)
        data[LINK_AT:BODY_SIZE] = link
        struct.pack_into("<I", data, BODY_SIZE, crc32(memoryview(data)[:BODY_SIZE]))
        if rotate:
            first, mode = record.seq, "wb"
        else:
            first, mode = self._segs[-1], "ab"
        path = self.segment_path(first)
        try:
            with open(path, mode) as f:
                n = f.write(data)
            if n != SIZE:
                raise OSError(28)
        except OSError:
            self._after_failed_write(first, rotate)
            raise
        if rotate:
            self._segs.append(record.seq)
            self._tail_n = 0
            if self._anchor_seq is None:
                self._anchor_seq = record.seq
        self._tail_n += 1
        self._next = record.seq + 1
        self._head = link
        record.link = link
        if carries_flag and self._flag_seq <= record.seq:
            self._flag_seq = 0
        if rotate and len(self._segs) > 1 and self._segs[1] <= self._ack_next:
            self._delete_acked()
        return record

    def _after_failed_write(self, first, rotated):
        # A write that failed may have left part of the record: cut it off again now, so
        # the next append does not land behind garbage.
        size = _size(self.segment_path(first))
        if size < 0:
            return
        keep = 0 if rotated else self._tail_n
        if size != keep * SIZE:
            try:
                self.rewrite_prefix(first, keep)
            except OSError:
                pass  # open_store will discard it as a torn tail

    def _make_room(self, seq, rotate):
        limit = self.capacity + self.segment_records - 1
        drop = 0
        # Segments other than the one receiving this record may go.
        candidates = len(self._segs) if rotate else len(self._segs) - 1
        excess = self.count + 1 - limit
        n = 0
        while drop < candidates and n < excess:
            n += self._seg_count(drop)
            drop += 1
        if not drop or excess <= 0:
            return
        first = self._segs[0]
        last = self._segs[drop - 1] + self._seg_count(drop - 1) - 1
        unacked_first = first if first >= self._ack_next else self._ack_next
        if unacked_first <= last:
            self.last_drop = (unacked_first, last)
            self.dropped_total += last - unacked_first + 1
            self._flag_seq = seq + 1
            self._flag_taken = False
            self._events.append(("dropped", unacked_first, last))
        self._delete_oldest(drop)

    def _delete_oldest(self, n):
        """Delete the n oldest segments: first persist the new anchor, then remove oldest
        first, so a cut leaves files that open() recognises as below the anchor."""
        self._anchor_link = self._last_link_of(n - 1)
        self._anchor_seq = self._segs[n] if n < len(self._segs) else self._next
        self._save_state()
        for first in self._segs[:n]:
            os.remove(self.segment_path(first))
        self._segs = self._segs[n:]
        if not self._segs:
            self._tail_n = 0

    # -- reading -----------------------------------------------------------------------------

    def _seg_index(self, seq):
        segs = self._segs
        lo, hi = 0, len(segs) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if segs[mid] <= seq:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def records(self, from_seq=0, raw=False):
        """Stored records from from_seq on, oldest first, streamed one at a time (one 76-byte
        buffer). raw=True yields the 76 stored bytes as they are (a damaged one included);
        otherwise Records, and a damaged record raises StoreError naming its seq."""
        for seq, buf in self.scan(from_seq, bytearray(SIZE)):
            if raw:
                yield bytes(buf)
            else:
                try:
                    rec = decode(buf)
                except RecordError as exc:
                    raise StoreError("seq %d: %s" % (seq, exc))
                yield rec

    def scan(self, from_seq, buf):
        """(position seq, buf) for each stored record from from_seq; buf is reused."""
        if not self._segs:
            return
        if from_seq < self._segs[0]:
            from_seq = self._segs[0]
        if from_seq >= self._next:
            return
        first = self._segs[self._seg_index(from_seq)]
        offset = from_seq - first
        while True:
            try:
                f = open(self.segment_path(first), "rb")
            except OSError:
                f = None  # deleted by an ack while we were reading: go on to the next
            if f is not None:
                with f:
                    f.seek(offset * SIZE)
                    seq = first + offset
                    while f.readinto(buf) == SIZE:
                        yield seq, buf
                        seq += 1
            # A segment is read to its end (even if damage made it longer or shorter), then
            # the next one in the list as it is now.
            nxt = None
            for s in self._segs:
                if s > first:
                    nxt = s
                    break
            if nxt is None:
                return
            first, offset = nxt, 0

    def get(self, seq, raw=False):
        """One stored record by seq (None if not stored). raw=True: its 76 stored bytes as
        they are, in a buffer the next read reuses."""
        if not self._segs or not self._segs[0] <= seq < self._next:
            return None
        i = self._seg_index(seq)
        buf = self.read_record(self._segs[i], seq - self._segs[i])
        return buf if buf is None or raw else decode(buf)

    # -- acknowledgement and drops ----------------------------------------------------------

    def ack(self, upto_seq):
        """The host holds every record up to upto_seq: persist that, and delete the segments
        all of whose records it covers (never the newest). Returns records deleted."""
        if self._next is None or upto_seq < self._ack_next:
            return 0
        upto_next = min(upto_seq + 1, self._next)
        if upto_next <= self._ack_next:
            return 0
        self._ack_next = upto_next
        return self._delete_acked(save=True)

    def _delete_acked(self, save=False):
        n = 0
        while n < len(self._segs) - 1 and self._segs[n + 1] <= self._ack_next:
            n += 1
        if n:
            deleted = self._segs[n] - self._segs[0]
            self._delete_oldest(n)  # saves the state first
            return deleted
        if save:
            self._save_state()
        return 0

    def take_pending_flags(self):
        """RECORDS_DROPPED once after a drop for capacity (the app ORs it into the next
        record; append also sets it on that record, so a reboot cannot lose it)."""
        if self._flag_seq and not self._flag_taken:
            self._flag_taken = True
            return RECORDS_DROPPED
        return 0

    def take_events(self):
        """Events since the last call: ("dropped", first_seq, last_seq) for each drop."""
        events, self._events = self._events, []
        return events
