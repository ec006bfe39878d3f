"""Exact integer four-quadrant energy counters: per phase, vector sum and arithmetic sum."""

from typing import NamedTuple

# Power is held in integer mW and mvar and time in integer ms, so energy is exact in
# uJ (mW * ms) and uvar.s (mvar * ms). 1 mWh = 3.6 J = 3_600_000 uJ, likewise for mvarh.
UJ_PER_MWH = 3_600_000


class Energy(NamedTuple):
    """Cumulative energy by quadrant, exact: active in uJ, reactive in uvar.s.

    Quadrant rule (docs/facts.md, consumer frame): P >= 0 is import (QI if Q >= 0 else QIV),
    P < 0 is export (QII if Q >= 0 else QIII). Reactive registers book |Q|.
    """

    a_plus: int = 0  # QI + QIV active
    a_minus: int = 0  # QII + QIII active
    r_q1: int = 0
    r_q2: int = 0
    r_q3: int = 0
    r_q4: int = 0

    @property
    def net(self):
        return self.a_plus - self.a_minus

    @property
    def r_plus(self):
        return self.r_q1 + self.r_q2

    @property
    def r_minus(self):
        return self.r_q3 + self.r_q4

    def minus(self, earlier):
        """The energy of the span from `earlier` to this reading."""
        return Energy(*(a - b for a, b in zip(self, earlier, strict=True)))

    def plus(self, other):
        return Energy(*(a + b for a, b in zip(self, other, strict=True)))

    def in_mwh(self):
        """Floored to whole mWh and mvarh, as a meter register shows it; deltas of these
        telescope, so interval sums still equal counter deltas to the unit."""
        return Energy(*(v // UJ_PER_MWH for v in self))


class Truth(NamedTuple):
    """Ground truth at t_ms: per phase, and the vector sum (phases netted each tick)."""

    t_ms: int
    phases: tuple
    vector: Energy

    @property
    def arithmetic(self):
        """Arithmetic summation: each phase booked on its own, then added."""
        total = Energy()
        for phase in self.phases:
            total = total.plus(phase)
        return total

    def since(self, earlier):
        """Truth of the span (earlier.t_ms, self.t_ms]."""
        return Truth(
            self.t_ms - earlier.t_ms,
            tuple(a.minus(b) for a, b in zip(self.phases, earlier.phases, strict=True)),
            self.vector.minus(earlier.vector),
        )


def _book(counters, ps, qs, dt_ms):
    """Add to counters (list of 6) the energy of constant (p, q) ticks of dt_ms each."""
    a_plus = a_minus = q1 = q2 = q3 = q4 = 0
    for p, q in zip(ps, qs, strict=True):
        if p >= 0:
            a_plus += p
            if q >= 0:
                q1 += q
            else:
                q4 -= q
        else:
            a_minus -= p
            if q >= 0:
                q2 += q
            else:
                q3 -= q
    counters[0] += a_plus * dt_ms
    counters[1] += a_minus * dt_ms
    counters[2] += q1 * dt_ms
    counters[3] += q2 * dt_ms
    counters[4] += q3 * dt_ms
    counters[5] += q4 * dt_ms


def _phase_sum(arrays, i0, i1):
    if len(arrays) == 1:
        return arrays[0][i0:i1]
    return [sum(values) for values in zip(*(a[i0:i1] for a in arrays), strict=True)]


def book_ticks(phase_counters, vector_counters, p_arrays, q_arrays, i0, i1, dt_ms):
    """Integrate ticks i0..i1-1 of one hour's arrays, each lasting dt_ms, into the counters."""
    if i1 <= i0 or dt_ms <= 0:
        return
    for counters, ps, qs in zip(phase_counters, p_arrays, q_arrays, strict=True):
        _book(counters, ps[i0:i1], qs[i0:i1], dt_ms)
    _book(vector_counters, _phase_sum(p_arrays, i0, i1), _phase_sum(q_arrays, i0, i1), dt_ms)
