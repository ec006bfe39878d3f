# Keeping intervals true without a battery-backed clock (docs/timekeeping.md).
#
# Sans-IO: the app says whether the board's clock was set when a poll began; this says whether
# that poll's reading can be placed in UTC and netted. A reading that cannot is held: nothing
# is closed in an unknown time base, its S0 pulses and flags go into the interval that was open
# at the power cut (restored from the checkpoint), and the first reading after the clock is set
# closes that interval as one record with exact bounds (IntervalAccumulator.update, outage).
from shared.record import CLOCK_ADJUSTED


class TimeKeeper:
    """Whether the reading of the poll under way has a UTC time, and what to do if not."""

    def __init__(self, clock_set):
        self.placed = bool(clock_set)  # the current poll began with the clock set
        self.held = 0  # readings held since boot (their time unknown)
        self.dropped_pulses = 0  # pulses counted before a new board's first placed reading

    def poll_started(self, clock_set):
        self.placed = bool(clock_set)

    def may_step(self):
        """May a SET_TIME step the accumulator? Not while the time is unknown: the clock's
        reading before the set is no UTC time, so the set ends the hold and steps nothing."""
        return self.placed

    def hold(self, acc, imp, exp, flags):
        """Take a reading made with the clock unset. Its pulses and flags go into the open
        interval, which is flagged CLOCK_ADJUSTED: the device ran in it without knowing the
        time, and its clock was set inside it. Returns False when there is no open interval
        (a board that never had the time: its series starts at its first placed reading, and
        pulses counted before it are not part of it, as no register reading before it is)."""
        self.held += 1
        if acc.start is None:
            self.dropped_pulses += imp + exp
            return False
        source = acc.sources.get("pulses")
        if source is not None and (imp or exp):
            # A pulse source's channels: import and export energy (scaled by its tallies),
            # then the raw counts, as netmeter.energy PulseSource.read spreads them.
            source.book([imp, exp, imp, exp])
        acc.flag(flags | CLOCK_ADJUSTED)
        return True

    def first_placed(self):
        """True once, for the first placed reading after held ones (the clock was just set)."""
        if self.placed and self.held:
            self.held = 0
            return True
        return False
