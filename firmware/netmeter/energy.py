# Energy sources of the netting core: integrated power, cumulative registers and S0 pulses.
# Each turns readings into spans of integer energy that the interval accumulator cuts at
# interval boundaries. Integers only: floats from the meter are converted once, here.
import math

from micropython import const

from netmeter.quadrant import quadrant
from shared.record import BAD_READING, DATA_INVALID, ESTIMATED, METER_RESET, RECOVERED

# Channel indices of a span's amounts.
A_PLUS = const(0)
A_MINUS = const(1)
Q1 = const(2)  # QI..QIV follow at 2..5
PULSES_IMPORT = const(2)  # pulse sources carry raw counts after their energies
PULSES_EXPORT = const(3)
# Power sources carry, after A+, A- and QI..QIV, how far the span's samples leave the split
# of A+ and A- open (see PowerSpan.amounts_between); no other source has 8 channels.
SPLIT_PLUS = const(6)
SPLIT_MINUS = const(7)

# Power is integrated in half-milliwatt-milliseconds (2 x trapezoid area stays an integer).
HALF_MW_MS_PER_MWH = const(7200000)


class Tally:
    """A cumulative count in a source's own unit, booked to intervals in mWh (or mvarh).

    Each interval gets floor(total_now * num / den) - floor(total_then * num / den): the
    remainder carries to the next interval, so the sum over intervals is exact forever.
    """

    def __init__(self, num=1, den=1):
        self.num = num
        self.den = den
        self.total = 0
        self.booked = 0

    def add(self, amount):
        self.total += amount

    def close(self):
        value = self.total * self.num // self.den
        part = value - self.booked
        self.booked = value
        return part

    def state(self):
        return (self.total, self.booked)

    def restore(self, state):
        self.total, self.booked = state


class Span:
    """Energy that arrived between two readings, cut in time order at interval boundaries."""

    def __init__(self, t0, t1, flags=0):
        self.t0 = t0
        self.t1 = t1
        self.flags = flags
        self.cut = t0

    def take(self, until):
        """Amounts in (previous cut, until], as a list indexed by channel."""
        until = min(max(until, self.cut), self.t1)
        amounts = self.amounts_between(self.cut, until)
        self.cut = until
        return amounts


class LinearSpan(Span):
    """Counter deltas spread evenly over the span (registers and pulses)."""

    def __init__(self, t0, t1, deltas, flags=0):
        Span.__init__(self, t0, t1, flags)
        self.deltas = deltas

    def _upto(self, x):
        if x >= self.t1:
            return self.deltas
        return [d * (x - self.t0) // (self.t1 - self.t0) for d in self.deltas]

    def amounts_between(self, a, b):
        hi = self._upto(b)
        lo = self._upto(a)
        return [hi[i] - lo[i] for i in range(len(hi))]


class PowerSpan(Span):
    """Trapezoidal integration of P and Q between two samples, per phase group.

    Between samples P and Q are taken as linear in time. The part of a span inside one
    interval is classified by the signs of its own active and reactive energy, so netting
    within one sample span is vector netting in time; see docs/netting.md.
    """

    def __init__(self, t0, t1, groups, flags=0):
        Span.__init__(self, t0, t1, flags)
        self.groups = groups  # [(p0, p1, q0, q1)] in mW and mvar

    def _area2(self, a0, a1, x):
        # Twice the area under the line a0..a1 from t0 to x, floored: exact at x = t1.
        length = self.t1 - self.t0
        u = x - self.t0
        return (2 * a0 * length + (a1 - a0) * u) * u // length

    def amounts_between(self, a, b):
        out = [0, 0, 0, 0, 0, 0, 0, 0]
        if b <= a:
            return out
        for p0, p1, q0, q1 in self.groups:
            ep = self._area2(p0, p1, b) - self._area2(p0, p1, a)
            eq = self._area2(q0, q1, b) - self._area2(q0, q1, a)
            if ep >= 0:
                out[A_PLUS] += ep
            else:
                out[A_MINUS] -= ep
            out[Q1 + quadrant(ep, eq) - 1] += eq if eq >= 0 else -eq
            if p0 > 0 > p1 or p1 > 0 > p0:
                # The samples change sign: the power crossed zero somewhere in the span, and
                # when (and how often) is unknown, so import and export in (a, b] are each
                # only known to lie between 0 and the larger sample of their direction times
                # (b - a). What was booked to a direction lies in that range too, so it is
                # off by at most that much (docs/netting.md, "What the samples can know").
                out[SPLIT_PLUS] += max(p0, p1) * 2 * (b - a)
                out[SPLIT_MINUS] -= min(p0, p1) * 2 * (b - a)
        return out


class Source:
    """Common state of an energy source: tallies, last reading time, gap rule."""

    def __init__(self, tallies, max_gap_ms):
        self.tallies = tallies
        self.max_gap_ms = max_gap_ms
        # The energy one step of this source stands for (mWh): a pulse, a register count.
        num, den = tallies[0].num, tallies[0].den
        self.resolution_mwh = (num + den - 1) // den
        self.last_t = None
        self.owes = False  # an interval closed before this source's data reached its end

    def book(self, amounts):
        for i in range(len(amounts)):
            self.tallies[i].add(amounts[i])

    def close(self):
        return [t.close() for t in self.tallies]

    def shift_time(self, delta_ms):
        if self.last_t is not None:
            self.last_t += delta_ms


class PowerSource(Source):
    """Instantaneous P and Q per phase, integrated; vector or arithmetic summation."""

    # close() gives A+, A-, QI..QIV, then how far A+ and A- may be off where the samples
    # changed sign (SPLIT_PLUS, SPLIT_MINUS): the cross-check widens by these.

    def __init__(self, vector=True, site_limit_w=100000, max_gap_ms=30000):
        unit = (1, HALF_MW_MS_PER_MWH)
        Source.__init__(self, [Tally(*unit) for _ in range(8)], max_gap_ms)
        self.vector = vector
        self.site_limit_w = site_limit_w
        self.last = None  # [(p_mw, q_mvar)] per group

    def _groups(self, phases):
        # Readings in W and var (floats or ints) -> integer mW and mvar per summation group.
        limit = self.site_limit_w
        groups = []
        for p, q in phases:
            if not (math.isfinite(p) and math.isfinite(q)) or abs(p) > limit or abs(q) > limit:
                return None
            groups.append((int(round(p * 1000)), int(round(q * 1000))))
        if self.vector:
            groups = [(sum(g[0] for g in groups), sum(g[1] for g in groups))]
        return groups

    def read(self, t, phases):
        """Take one sample; returns (span or None, flags for the interval holding t)."""
        groups = self._groups(phases)
        if groups is None:
            return None, BAD_READING
        last, last_t = self.last, self.last_t
        self.last, self.last_t = groups, t
        if last is None or t <= last_t or len(last) != len(groups):
            return None, 0
        if t - last_t > self.max_gap_ms:
            # Too long to interpolate: nothing is integrated and every interval it covers says so.
            return PowerSpan(last_t, t, [], DATA_INVALID), 0
        pairs = [(last[i][0], groups[i][0], last[i][1], groups[i][1]) for i in range(len(groups))]
        return PowerSpan(last_t, t, pairs), 0

    def state(self):
        return (self.last_t, self.last, [t.state() for t in self.tallies])

    def restore(self, state):
        self.last_t, self.last, tallies = state
        for i in range(len(tallies)):
            self.tallies[i].restore(tallies[i])


def counter_delta(old, new, wrap_bits, max_delta):
    """Delta of a cumulative counter: (delta, flags); delta None means reject the reading.

    A rise beyond max_delta is absurd (a garbled or foreign value). A fall is a wrap when
    the counter has wrap_bits and the wrapped delta is plausible; otherwise it is a meter
    reset, which books nothing: the energy between the last reading and the reset is
    unknown, and inventing it would be phantom energy.
    """
    if new >= old:
        if new - old > max_delta:
            return None, BAD_READING
        return new - old, 0
    if wrap_bits:
        wrapped = new - old + (1 << wrap_bits)
        if 0 <= wrapped <= max_delta:
            return wrapped, 0
    return 0, METER_RESET


class RegisterSource(Source):
    """Cumulative import and export registers (raw counts) read over Modbus."""

    def __init__(
        self, mwh_per_count=(1000, 1), wrap_bits=32, site_limit_w=100000, max_gap_ms=30000
    ):
        Source.__init__(self, [Tally(*mwh_per_count), Tally(*mwh_per_count)], max_gap_ms)
        self.mwh_per_count = mwh_per_count
        self.wrap_bits = wrap_bits
        self.site_limit_w = site_limit_w
        self.last = None  # [import_count, export_count]
        self.suspect = [None, None]  # an absurd value seen once; seen again it is a new base
        # After a fall taken as a reset: [value and time before it, counts booked since]. A
        # register stuck at zero (or garbled low) that comes back looks like a reset followed
        # by a rise; this lets it be recognised when it comes back.
        self.fallen = [None, None]

    def _max_delta(self, dt_ms):
        # Counts the site could add at its limit in dt, with margin for timing and resolution.
        mwh = self.site_limit_w * dt_ms * 3 // 2 // 3600  # W x ms / 3600 = mWh
        num, den = self.mwh_per_count
        return mwh * den // num + 2

    def read(self, t, counts):
        flags = 0
        if self.last is None:
            self.last, self.last_t = list(counts), t
            return None, 0
        dt = t - self.last_t if t > self.last_t else 0
        deltas = [0, 0]
        for i in range(2):
            delta, why = counter_delta(
                self.last[i], counts[i], self.wrap_bits, self._max_delta(dt)
            )
            fallen = self.fallen[i]
            if fallen is not None:
                back = self._back_on_course(fallen, counts[i], t, delta)
                if back is not None:
                    # The fall was the register's, not the meter's: book what it counted
                    # since the reading before the fall, less what was booked since.
                    self.fallen[i] = self.suspect[i] = None
                    self.last[i] = counts[i]
                    deltas[i] = back
                    flags |= RECOVERED
                    continue
            if delta is None:
                suspect = self.suspect[i]
                if suspect is not None and 0 <= counts[i] - suspect <= self._max_delta(dt):
                    # The "absurd" value came back consistently: the meter was reset or replaced.
                    self.last[i] = counts[i]
                    self.fallen[i] = None
                    why = METER_RESET
                else:
                    self.suspect[i] = counts[i]
                flags |= why
                continue
            self.suspect[i] = None
            if why & METER_RESET:
                self.fallen[i] = [self.last[i], self.last_t, 0]
            elif fallen is not None:
                fallen[2] += delta
            self.last[i] = counts[i]
            deltas[i] = delta
            flags |= why
        last_t, self.last_t = self.last_t, t
        if t <= last_t:
            return LinearSpan(t - 1, t, deltas), flags
        gap = ESTIMATED if t - last_t > self.max_gap_ms else 0
        return LinearSpan(last_t, t, deltas, gap), flags

    def _back_on_course(self, fallen, new, t, delta):
        """Counts to book if `new` continues the course the register had before its fall, and
        that books less than taking the fall as a reset would (delta); else None.

        Both readings of the fall fit such a value; the smaller amount is the one that cannot
        invent energy. A counter really reset to zero rarely climbs back past its old value.
        """
        old, old_t, booked = fallen
        if new < old or new - old > self._max_delta(t - old_t):
            return None
        back = new - old - booked
        if back < 0 or (delta is not None and back >= delta):
            return None
        return back

    def state(self):
        return (
            self.last_t,
            self.last,
            self.suspect,
            self.fallen,
            [t.state() for t in self.tallies],
        )

    def restore(self, state):
        self.last_t, self.last, self.suspect, self.fallen, tallies = state
        for i in range(len(tallies)):
            self.tallies[i].restore(tallies[i])


def pulse_constant(imp_per_kwh=None, wh_per_pulse=None):
    """mWh per pulse as an exact fraction (num, den) from imp/kWh or Wh/pulse (2.5 allowed)."""
    if imp_per_kwh is not None:
        return (1000000, int(imp_per_kwh))
    # Wh per pulse given with at most three decimals (2.5, 0.3125 is 3200 imp/kWh).
    milli = int(round(wh_per_pulse * 10000))
    return (milli, 10)


class PulseSource(Source):
    """S0 pulse deltas for import and export, scaled by the pulse constant with carry."""

    def __init__(self, mwh_per_pulse=(1000, 1), max_gap_ms=30000):
        tallies = [Tally(*mwh_per_pulse), Tally(*mwh_per_pulse), Tally(), Tally()]
        Source.__init__(self, tallies, max_gap_ms)

    def read(self, t, deltas):
        imp, exp = deltas
        if imp < 0 or exp < 0:
            return None, BAD_READING
        last_t, self.last_t = self.last_t, t
        if last_t is None or t <= last_t:
            # No earlier reading to spread them over: book them at t (to the interval
            # that ends at t when t is a boundary).
            return LinearSpan(t - 1, t, [imp, exp, imp, exp]), 0
        gap = ESTIMATED if t - last_t > self.max_gap_ms else 0
        return LinearSpan(last_t, t, [imp, exp, imp, exp], gap), 0

    def state(self):
        return (self.last_t, [t.state() for t in self.tallies])

    def restore(self, state):
        self.last_t, tallies = state
        for i in range(len(tallies)):
            self.tallies[i].restore(tallies[i])
