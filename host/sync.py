"""`host sync`: pull new records page by page, check CRC and hash chain, commit each page in
one transaction, then acknowledge what is committed. A record that fails is never stored.

Where the chain starts (docs/host.md, "Sync"): seq 0 follows the genesis link of the
device id. A history that begins after records the device already deleted (acknowledged to
another host, or dropped when its store was full) cannot check the first record it gets
against its predecessor: that record is taken on trust, noted in `anchors` with the reason,
and every record after it is checked against it.
"""

import time
from collections import Counter

from shared.linkproto import MAX_PAGE
from shared.record import (
    SIZE,
    RecordError,
    chain_link,
    decode,
    flag_names,
    genesis_link,
    record_link,
)

# PULL requests in flight at once: one round trip brings this many pages. The device
# answers them from one console read, writing each ~1.3 KB page as it is made (joined, the
# 5.4 KB block sometimes failed in its fragmented heap, and all four replies were lost).
PIPELINE = 4


class SyncError(Exception):
    """The sync stopped; str() names the seq and what is wrong. Nothing bad was stored."""


class SyncResult:
    def __init__(self, device_id):
        self.device_id = device_id
        self.stored = 0
        self.first = None
        self.last = None
        self.flags = Counter()
        self.anchors = []  # (seq, reason) noted in this sync
        self.notes = []  # lines about records not stored because the history has them
        self.acked = None
        self.clock_step_ms = None
        self.clock_was_unset = False  # INFO said clock_set false: this sync set it
        self.ack_skipped = None  # why no ACK was sent, or None

    def summary(self):
        if not self.stored:
            lines = ["%s: up to date, nothing new" % self.device_id]
        else:
            flags = ", ".join("%s x%d" % kv for kv in sorted(self.flags.items())) or "none"
            lines = [
                "%s: stored %d records, seq %d..%d; flags seen: %s"
                % (self.device_id, self.stored, self.first, self.last, flags)
            ]
        lines += self.notes
        for seq, reason in self.anchors:
            lines.append("chain anchored at seq %d: %s" % (seq, reason))
        if self.acked is not None:
            lines.append("acknowledged up to seq %d" % self.acked)
        return lines


def sync(
    link, history, progress=None, set_time=False, ack=True, key_loader=None, accept_break=False
):
    """Pull every record past the history's head for the device behind link.

    key_loader(device_id) -> key or None is called before a signed command when the link
    has no key; without a key, records are stored but neither the clock set nor ACKed.
    accept_break: take the records past a chain break this history cannot prove, with the
    break kept as an audited anchor (otherwise they are quarantined: see ChainBreaks)."""
    info = link.info()
    device_id = info.get("device_id") or ""
    if not device_id:
        raise SyncError("the device reports no device_id: push a config that sets one")
    result = SyncResult(device_id)
    _set_clock(link, info, result, set_time, ack, key_loader)
    head = history.head(device_id)
    span = _span(device_id, info, head)
    if span is None:
        return _finish(link, history, result, ack)
    breaks = ChainBreaks(history, device_id, accept_break)
    _Pull(link, history, result, head is None, span, breaks, progress, ack).run()
    breaks.note(result)
    return _finish(link, history, result, ack)


def _set_clock(link, info, result, set_time, ack, key_loader):
    """Load the key a signed command needs, and set the clock when asked or when unset.

    A board that restarted without a clock holds its readings until the time is set
    (docs/timekeeping.md): every sync that can sign sets it then."""
    unset = info.get("clock_set") is False
    if link.key is None and key_loader is not None and (set_time or ack or unset):
        link.key = key_loader(result.device_id)
    if set_time or (unset and link.key is not None):
        result.clock_step_ms = link.set_time()
        result.clock_was_unset = unset


def _span(device_id, info, head):
    """(from_seq, prev_link, next_seq) to pull, or None when the device holds nothing new.
    Raises when the device's records end before the history's head (a wiped store)."""
    first, next_seq = info.get("first_seq"), info.get("next_seq")
    if head is not None and next_seq is not None and next_seq <= head[0]:
        raise _wiped(device_id, next_seq, head[0])
    if first is None or next_seq is None or next_seq <= first:
        return None
    if head is None:
        return first, None, next_seq
    return head[0] + 1, head[1], next_seq


class _Pull:
    """One sync's walk over the device's pages: checks each record against the one before
    it, stores each page (in chunks split at anchors) and reports progress."""

    def __init__(self, link, history, result, new_history, span, breaks, progress, ack):
        self.link, self.history, self.result = link, history, result
        self.device_id = result.device_id
        self.new_history = new_history
        self.from_seq, self.prev_link, self.next_seq = span
        self.breaks, self.progress, self.ack = breaks, progress, ack
        self.total = max(0, self.next_seq - self.from_seq)
        self.done = 0

    def run(self):
        if self.progress:
            self.progress(self.done, self.total)
        while self.from_seq < self.next_seq and self._round():
            pass

    def _round(self):
        """Ask for up to PIPELINE pages at once; False when the device has no more."""
        pages = -(-(self.next_seq - self.from_seq) // MAX_PAGE)
        starts = [self.from_seq + MAX_PAGE * i for i in range(min(PIPELINE, pages))]
        link = self.link
        replies = link.pull_pages(starts) if len(starts) > 1 else [link.pull(self.from_seq)]
        for start, reply in zip(starts, replies, strict=True):
            if start != self.from_seq:
                break  # an earlier page came back short or started later: ask again from here
            if not self._page(*reply):
                return False
        return True

    def _page(self, page_first, page_next, raws):
        """Check and store one page; False when it was empty (the device has no more)."""
        self.next_seq = max(self.next_seq, page_next)
        anchor = self._page_anchor(page_first)
        if anchor is not None:
            self.from_seq, self.prev_link = anchor[0], anchor[1]
        if not raws:
            return False
        chunks = [[anchor, []]]  # each chunk: its anchor and its records, stored in order
        for raw in raws:
            self._take(raw, chunks)
        self.done += _store_chunks(self.history, self.device_id, chunks, self.result)
        if self.progress:
            self.progress(self.done, max(self.total, self.done + self.next_seq - self.from_seq))
        return True

    def _page_anchor(self, page_first):
        fresh = self.new_history and self.result.stored == 0
        if page_first > self.from_seq:  # the device no longer holds from_seq..page_first-1
            return _anchor(self.device_id, page_first, self.from_seq, fresh)
        if self.prev_link is None:  # the first record of a new history
            return _anchor(self.device_id, self.from_seq, self.from_seq, fresh)
        return None

    def _take(self, raw, chunks):
        """Check one record and add it to the last chunk (or skip it, or quarantine)."""
        rec = _check(raw, self.from_seq)
        prev_link = self.prev_link
        if (
            self.breaks.skipping
            or prev_link is None
            or chain_link(prev_link, raw) != record_link(raw)
        ):
            found = self.breaks.meet(self.from_seq, prev_link, raw)
            if found == QUARANTINE:
                self._quarantine(chunks)
            if found == SKIP:  # already in this history under the device's old id
                found, rec = None, None
            elif found is not None:  # a new anchor: proven, or accepted on trust
                if chunks[-1][1]:
                    chunks.append([found, []])
                else:
                    chunks[-1][0] = found
        if rec is not None:
            chunks[-1][1].append((rec, raw))
        self.prev_link = record_link(raw)
        self.from_seq += 1

    def _quarantine(self, chunks):
        """Store what came before the break, quarantine the rest, and stop the sync."""
        _store_chunks(self.history, self.device_id, chunks, self.result)
        self.breaks.quarantine_rest(self.link, self.from_seq, self.next_seq)
        _finish(self.link, self.history, self.result, self.ack)
        raise SyncError(self.breaks.message(self.result))


def _store_chunks(history, device_id, chunks, result):
    n = 0
    for anchor, page in chunks:
        if not page:
            continue
        history.store_page(device_id, page, anchor)
        if anchor is not None:
            result.anchors.append((anchor[0], anchor[2]))
        for rec, _raw in page:
            if rec.flags:
                result.flags.update(flag_names(rec.flags))
        result.first = page[0][0].seq if result.first is None else result.first
        result.last = page[-1][0].seq
        result.stored += len(page)
        n += len(page)
    chunks[:] = [[None, []]]
    return n


SKIP = "skip"
QUARANTINE = "quarantine"


class ChainBreaks:
    """What sync does with a record whose link does not follow the one before it (or, on
    trust, a record this history already holds under another device id).

    - The same record (seq and all 76 bytes) is in this history under another device id X:
      the board was renamed from X after X's sync. It is skipped (stored once, under X), and
      the first record past X's history is anchored to X's last link: proven.
    - The record follows the genesis link of X or X's record seq-1 (the board was renamed
      from X with records not yet synced): anchored to that link, proven, and stored.
    - Otherwise nothing can prove it. With accept_break it is anchored on trust and the
      anchor's reason says who accepted what and when (an audited event); without it, it and
      every record after it are quarantined (history.quarantine) with the reason, nothing
      past the break is acknowledged (the board keeps them), and the sync ends with one line
      that says how to recover.
    """

    def __init__(self, history, device_id, accept):
        self.history = history
        self.device_id = device_id
        self.accept = accept
        self.skipping = None  # device id whose records are being skipped
        self.skipped = []  # (device id, first seq, last seq)
        self.reason = None
        self.quarantined = None  # (first, last) seq

    def meet(self, seq, prev_link, raw):
        """SKIP, QUARANTINE, a new anchor (seq, link or None, reason), or None (a record
        taken on trust by the anchor it already has)."""
        other = self.history.same_record_elsewhere(self.device_id, seq, raw)
        if other is not None:
            if self.skipping != other:
                self.skipping = other
                self.skipped.append([other, seq, seq])
            self.skipped[-1][2] = seq
            return SKIP
        if self.skipping is not None:
            was = self.skipping
            self.skipping = None
            if prev_link is not None and chain_link(prev_link, raw) == record_link(raw):
                return (
                    seq,
                    prev_link,
                    "continues the chain of %r: seq %d..%d are in this history under %r "
                    "(the board was renamed to %r)"
                    % (was, self.skipped[-1][1], self.skipped[-1][2], was, self.device_id),
                )
        if prev_link is None:
            return None  # the first record of a history, taken on trust by its anchor
        proven = self._proven(seq, raw)
        if proven is not None:
            return proven
        reason = (
            "seq %d: its link does not follow seq %d (hash chain broken: an edited, inserted "
            "or deleted record, or records chained under a device id this history does not "
            "know)" % (seq, seq - 1)
        )
        if self.accept:
            return (
                seq,
                None,
                "chain break accepted with `host sync --accept-break` on %s UTC, seq %d taken "
                "on trust: %s" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), seq, reason),
            )
        self.reason = reason
        return QUARANTINE

    def _proven(self, seq, raw):
        link = record_link(raw)
        if seq == 0:
            for other in self.history.devices():
                if other != self.device_id and chain_link(genesis_link(other), raw) == link:
                    return (
                        0,
                        genesis_link(other),
                        "seq 0 follows the genesis link of %r, not of %r: the board was "
                        "renamed with these records on it" % (other, self.device_id),
                    )
            return None
        found = self.history.link_before_elsewhere(self.device_id, seq, raw)
        if found is None:
            return None
        other, before = found
        return (
            seq,
            before,
            "seq %d follows seq %d of %r: the board was renamed from %r"
            % (seq, seq - 1, other, other),
        )

    def quarantine_rest(self, link, seq, next_seq):
        """Pull seq..next_seq-1 as they are and keep them in quarantine with the reason."""
        first = seq
        while seq < next_seq:
            page_first, page_next, raws = link.pull(seq)
            next_seq = max(next_seq, page_next)
            seq = max(seq, page_first)
            if not raws:
                break
            page = []
            for raw in raws:
                _check(raw, seq)
                page.append((seq, raw))
                seq += 1
            self.history.quarantine(self.device_id, page, self.reason)
        self.quarantined = (first, seq - 1)

    def message(self, result):
        first, last = self.quarantined
        stored = "stored %d records" % result.stored if result.stored else "stored nothing new"
        return (
            "%s: %s; seq %d..%d quarantined in the history (%s). They stay on the device, "
            "unacknowledged; `host verify` lists them. To take them in with the break recorded "
            "as an audited anchor, run `host sync --accept-break`"
            % (self.device_id, stored, first, last, self.reason)
        )

    def note(self, result):
        for other, first, last in self.skipped:
            result.notes.append(
                "seq %d..%d are already in this history under %r, the board's former id: "
                "not stored again" % (first, last, other)
            )


def _wiped(device_id, next_seq, head_seq):
    return SyncError(
        "%s holds records only below seq %d, but this history already has seq %d for it: "
        "its store was wiped or another device uses the same device_id"
        % (device_id, next_seq, head_seq)
    )


def _anchor(device_id, start, from_seq, fresh):
    """(seq, link before it or None, reason) for a chain that starts at start."""
    if start == 0:
        return (0, genesis_link(device_id), "seq 0 follows the genesis link of %r" % device_id)
    if fresh:
        reason = (
            "the device no longer holds seq 0..%d (deleted after an acknowledgement); "
            "seq %d is taken on trust as this history's first record" % (start - 1, start)
        )
    else:
        reason = (
            "the device no longer holds seq %d..%d (dropped when its store was full, or "
            "acknowledged by another history); seq %d is taken on trust"
            % (from_seq, start - 1, start)
        )
    return (start, None, reason)


def _check(raw, seq):
    """The decoded record if raw is record seq, whole and with its CRC."""
    if len(raw) != SIZE:
        raise SyncError("seq %d: the device sent %d bytes, not a %d-byte record; nothing of it "
                        "was stored" % (seq, len(raw), SIZE))  # fmt: skip
    try:
        rec = decode(raw)
    except RecordError as exc:
        raise SyncError(
            "seq %d: %s; the record was not stored, sync stopped" % (seq, exc)
        ) from None
    if rec.seq != seq:
        raise SyncError("seq %d: the device sent seq %d in its place; not stored, sync stopped"
                        % (seq, rec.seq))  # fmt: skip
    return rec


def _finish(link, history, result, ack):
    head = history.head(result.device_id)
    if ack and head is not None:
        if link.key is None:
            result.ack_skipped = "no link key for %s: records stay on the device" % (
                result.device_id
            )
        else:
            link.ack(head[0])
            result.acked = head[0]
    return result


def text_progress(stream, width=30):
    """A progress callback drawing `[#####.....] done/total records` on stream."""
    state = {"drawn": False}

    def draw(done, total):
        if total <= 0:
            return
        filled = width * done // total
        stream.write(
            "\r[%s%s] %d/%d records" % ("#" * filled, "." * (width - filled), done, total)
        )
        stream.flush()
        state["drawn"] = True

    def end():
        if state["drawn"]:
            stream.write("\n")
            stream.flush()

    draw.end = end
    return draw
