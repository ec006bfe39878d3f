# The interval accumulator: books energy spans into UTC-aligned intervals and closes records.
from netmeter.energy import A_MINUS, A_PLUS, PULSES_EXPORT, PULSES_IMPORT
from shared.record import (
    BAD_READING,
    CLOCK_ADJUSTED,
    DATA_INVALID,
    ESTIMATED,
    METER_RESET,
    NET_RESET,
    PARTIAL,
    POWER_DOWN,
    RECOVERED,
    SOURCE_MISMATCH,
    SOURCE_POWER,
    SOURCE_PULSES,
    SOURCE_REGISTERS,
    Record,
)

INTERVAL_MINUTES = (1, 5, 10, 15, 30, 60)
_SOURCE_IDS = {"pulses": SOURCE_PULSES, "registers": SOURCE_REGISTERS, "power": SOURCE_POWER}
# An interval with any of these is not cross-checked: its sources saw different spans of
# time (a gap, an outage, a step, a reset, a rejected reading, the first reading), so they
# may disagree without anything being wrong. The flag already tells the reader.
_NOT_COMPARABLE = (
    DATA_INVALID | RECOVERED | METER_RESET | POWER_DOWN | ESTIMATED | CLOCK_ADJUSTED | PARTIAL
) | BAD_READING


class IntervalAccumulator:
    """Nets readings into contiguous, non-overlapping interval records.

    Times are integer milliseconds since the Unix epoch (UTC). Each call to update() gives
    what was read at one instant; a source that was not read (or failed) is None. Intervals
    close when an update reaches their end; a span of readings that crosses boundaries is
    cut at each boundary (docs/netting.md gives the rules for gaps, steps and resets).
    """

    def __init__(
        self,
        interval_min=15,
        billing="registers",
        sources=None,
        seq=0,
        crosscheck_percent=2,
        crosscheck_floor_mwh=0,
    ):
        if interval_min not in INTERVAL_MINUTES:
            raise ValueError(
                "interval_min=%r: allowed %s minutes" % (interval_min, INTERVAL_MINUTES)
            )
        self.sources = sources or {}
        if billing not in self.sources:
            raise ValueError("billing source %r is not among the configured sources" % billing)
        self.billing = billing
        # Cross-check: A+ and A- of every other source must agree with the billing source
        # within crosscheck_percent of the larger value plus a floor of two resolution steps
        # of each source (plus crosscheck_floor_mwh), plus what either source's samples
        # leave open of the split into A+ and A- (power across a sign change), or the
        # interval is SOURCE_MISMATCH. None switches the cross-check off.
        self.crosscheck_percent = crosscheck_percent
        self.crosscheck_floor_mwh = crosscheck_floor_mwh
        self.interval_min = interval_min
        self.interval_ms = interval_min * 60000
        self.seq = seq
        self.net_total = 0  # mWh since the last reset-net
        self.start = None  # open interval [start, end) in ms; None before the first reading
        self.end = None
        self.flags = 0
        self.last_t = None
        self.outage = False  # restored after a power cut: the next update ends the outage

    def boundary_after(self, t):
        return (t // self.interval_ms + 1) * self.interval_ms

    def boundary_at_or_after(self, t):
        return -(-t // self.interval_ms) * self.interval_ms

    def update(self, t, power=None, registers=None, pulses=None, flags=0):
        """Take the readings of one instant t (ms); returns the records closed by it."""
        records = []
        if self.start is None:
            self.start, self.end = t, self.boundary_after(t)
            self.flags |= PARTIAL if t % self.interval_ms else 0
        elif t < self.last_t:
            # The clock went backwards without a declared step: treat it as one.
            records += self.step_clock(t)
        if self.outage:
            # The first reading after a power cut: the interval open at the cut stretches to
            # the boundary at or after t and closes as ONE record. Its bounds are exact and
            # its energy is what the sources measured over them; how the energy of the
            # outage fell inside it is unknown, so it is not spread over made-up intervals
            # (docs/timekeeping.md).
            self.outage = False
            self.flags |= POWER_DOWN
            self.end = max(self.end, self.boundary_at_or_after(t))
        readings = (("power", power), ("registers", registers), ("pulses", pulses))
        spans = []
        for name, value in readings:
            source = self.sources.get(name)
            if source is None or value is None:
                continue
            span, why = source.read(t, value)
            flags |= why
            if span is not None:
                spans.append((source, span))
        while self.end <= t:
            self._book(spans, self.end)
            records.append(self._close(self.end))
        self._book(spans, t)
        self.flags |= flags
        self.last_t = t
        return records

    def _book(self, spans, until):
        for source, span in spans:
            if span.cut >= until:
                continue  # nothing of this span lies in the interval being booked
            amounts = span.take(until)
            source.book(amounts)
            self.flags |= span.flags
            if source.owes and any(amounts):
                self.flags |= RECOVERED
            source.owes = False

    def _close(self, end):
        for source in self.sources.values():
            if source.last_t is None or source.last_t < end:
                # Data stops short of the end: what it hid is booked when it comes back.
                self.flags |= DATA_INVALID
                source.owes = True
        closed = {}
        for name, source in self.sources.items():
            closed[name] = source.close()
        billing = closed[self.billing]
        if self.crosscheck_percent is not None and not self.flags & _NOT_COMPARABLE:
            if self.mismatch(closed):
                self.flags |= SOURCE_MISMATCH
        quadrants = closed["power"][2:6] if "power" in closed else [0, 0, 0, 0]
        pulses = closed.get("pulses", [0, 0, 0, 0])
        start_s = self.start // 1000
        record = Record(
            seq=self.seq,
            start_utc=start_s,
            duration_s=end // 1000 - start_s,
            a_plus=billing[A_PLUS],
            a_minus=billing[A_MINUS],
            q1=quadrants[0],
            q2=quadrants[1],
            q3=quadrants[2],
            q4=quadrants[3],
            pulses_import=pulses[PULSES_IMPORT],
            pulses_export=pulses[PULSES_EXPORT],
            flags=self.flags,
            source=_SOURCE_IDS[self.billing],
            interval_min=self.interval_min,
        )
        self.closed_by_source = closed  # for cross-checks between sources
        self.seq += 1
        self.net_total += record.net
        self.start, self.end = end, self.boundary_after(end)
        self.flags = 0
        return record

    def mismatch(self, closed):
        """True if another source's A+ or A- disagrees with the billing source's."""
        billing = closed[self.billing]
        own = self.sources[self.billing].resolution_mwh
        for name in closed:
            if name == self.billing:
                continue
            other = closed[name]
            floor = 2 * (own + self.sources[name].resolution_mwh) + self.crosscheck_floor_mwh
            for i in (A_PLUS, A_MINUS):
                a, b = billing[i], other[i]
                # what power's samples leave open of the split (energy.SPLIT_PLUS/MINUS)
                slack = floor + (billing[6 + i] if len(billing) > 7 else 0)
                slack += other[6 + i] if len(other) > 7 else 0
                if abs(a - b) * 100 > max(a, b) * self.crosscheck_percent + slack * 100:
                    return True
        return False

    def close_now(self, t):
        """Close the open interval early at t (shutdown, or a clock step); returns the record."""
        if t > self.start:
            return [self._close(t)]
        return []

    def step_clock(self, new_t):
        """The clock was set from last_t to new_t: close at the old time, carry on at the new.

        The interval holding the step closes at the old time. The next one starts at the
        later of the two times, so records never overlap: after a step back, the interval
        from the old time absorbs the energy until the new clock reaches its end.
        """
        if self.start is None:
            self.flags |= CLOCK_ADJUSTED
            return []
        old_t = self.last_t
        self.flags |= CLOCK_ADJUSTED
        records = self.close_now(old_t)
        for source in self.sources.values():
            source.shift_time(new_t - old_t)
        self.start = max(new_t, self.start)  # never before the end of the last record
        self.end = self.boundary_after(self.start)
        self.flags |= CLOCK_ADJUSTED
        self.last_t = new_t
        return records

    def flag(self, bits):
        """Mark the open interval (e.g. COMM_ERROR, CLOCK_INVALID, RECORDS_DROPPED)."""
        self.flags |= bits

    def reset_net(self):
        """Reset-net-only: the cumulative net restarts; history and seq are untouched."""
        self.net_total = 0
        self.flags |= NET_RESET

    # -- checkpoints -----------------------------------------------------------------------

    def state(self):
        """Everything needed to carry on after a power cut, as plain JSON-able values."""
        sources = {}
        for name, source in self.sources.items():
            sources[name] = [source.state(), source.owes]
        return {
            "seq": self.seq,
            "net": self.net_total,
            "start": self.start,
            "end": self.end,
            "flags": self.flags,
            "last_t": self.last_t,
            "sources": sources,
        }

    def restore(self, state, power_down=True):
        """Carry on from state(); with power_down the open interval and those up to the next
        update are flagged POWER_DOWN. The sources keep their last readings, so cumulative
        registers recover the energy that flowed while the device was off."""
        self.seq = state["seq"]
        self.net_total = state["net"]
        self.start = state["start"]
        self.end = state["end"]
        self.flags = state["flags"]
        self.last_t = state["last_t"]
        for name, (source_state, owes) in state["sources"].items():
            if name in self.sources:
                self.sources[name].restore(source_state)
                self.sources[name].owes = owes
        self.outage = power_down and self.start is not None
