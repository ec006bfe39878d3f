"""The simulated meter: site physics in virtual time, exact truth, metered counters and S0."""

import math
import threading
import time
from dataclasses import dataclass

from host.sim.energy import Energy, Truth, book_ticks
from host.sim.pulses import EXPORT, IMPORT, PulseChannel, S0Config
from host.sim.site import HOUR_MS, MINUTE_MS, Site, SiteConfig

VECTOR = "vector"
ARITHMETIC = "arithmetic"
_FULL_GAIN = 1000  # CT gains are per mille so that measured power stays integer


@dataclass(frozen=True)
class PhaseInstant:
    """What the meter shows for one phase: V, A, W, var, VA and PF (signed like P)."""

    v: float
    i: float
    p: float
    q: float
    s: float
    pf: float


@dataclass(frozen=True)
class Instant:
    t_ms: int
    phases: tuple
    freq: float

    @property
    def p_total(self):
        return sum(ph.p for ph in self.phases)

    @property
    def q_total(self):
        return sum(ph.q for ph in self.phases)

    @property
    def s_total(self):
        return sum(ph.s for ph in self.phases)


class SimMeter:
    """A meter on a simulated site, driven in virtual time.

    Time is integer milliseconds since the simulation start (t = 0 is midnight unless the
    site's day_offset_ms says otherwise). `advance_to(t_ms)` moves the meter forward; the
    truth can then be asked for any t <= now. All public methods are thread-safe, so a
    Modbus server thread can read while a test thread advances time.

    The ground truth integrates the site's power. The meter's counters, registers and S0
    pulses integrate what the meter measures, which differs from the truth only while a CT
    fault is set (`invert_ct`, `attenuate_ct`), from the meter time at which it was set.
    """

    def __init__(self, site=None, s0=None, summation=VECTOR, export_s0=None):
        if summation not in (VECTOR, ARITHMETIC):
            raise ValueError("summation must be 'vector' or 'arithmetic'")
        self.site = site if isinstance(site, Site) else Site(site or SiteConfig())
        self.phases = self.site.phases
        self.tick_ms = self.site.tick_ms
        self.summation = summation
        s0 = s0 or S0Config()
        seed = self.site.config.seed
        self.s0 = {
            IMPORT: PulseChannel(IMPORT, s0, seed=seed * 2 + 1),
            EXPORT: PulseChannel(EXPORT, export_s0 or s0, seed=seed * 2 + 2),
        }
        self.lock = threading.RLock()
        self.now_ms = 0
        self._hours = {}
        self._checkpoints = [self._zero_counters()]  # truth at each whole minute <= now
        self._metered = [0] * 6
        self._gains = [_FULL_GAIN] * self.phases
        self._wall_origin = None

    # --- time ---------------------------------------------------------------------------

    def advance_to(self, t_ms):
        """Integrate truth, counters and pulses up to t_ms (integer ms, never backwards)."""
        t_ms = int(t_ms)
        with self.lock:
            if t_ms < self.now_ms:
                raise ValueError("time runs forward: now %d ms, asked %d" % (self.now_ms, t_ms))
            self._meter_span(self.now_ms, t_ms)
            minute = len(self._checkpoints) - 1
            while (minute + 1) * MINUTE_MS <= t_ms:
                phase_c, vector_c = self._copy(self._checkpoints[minute])
                self._integrate(phase_c, vector_c, minute * MINUTE_MS, (minute + 1) * MINUTE_MS)
                self._checkpoints.append((phase_c, vector_c))
                minute += 1
            self.now_ms = t_ms

    def advance_by(self, dt_ms):
        with self.lock:
            self.advance_to(self.now_ms + dt_ms)

    def follow_wall_clock(self, speed=1.0):
        """Real-time mode: from now on `sync()` advances to the wall clock (times speed)."""
        with self.lock:
            self._wall_origin = (time.monotonic(), self.now_ms, speed)

    def sync(self):
        """In real-time mode, advance to the wall clock; otherwise do nothing. Returns now."""
        with self.lock:
            if self._wall_origin is not None:
                wall0, t0, speed = self._wall_origin
                target = t0 + int((time.monotonic() - wall0) * 1000 * speed)
                if target > self.now_ms:
                    self.advance_to(target)
            return self.now_ms

    # --- truth ----------------------------------------------------------------------------

    def truth_at(self, t_ms):
        """Cumulative ground truth at t_ms (0 <= t_ms <= now), exact."""
        with self.lock:
            if not 0 <= t_ms <= self.now_ms:
                raise ValueError("truth is known for 0..%d ms, not %d" % (self.now_ms, t_ms))
            minute = t_ms // MINUTE_MS
            phase_c, vector_c = self._copy(self._checkpoints[minute])
            self._integrate(phase_c, vector_c, minute * MINUTE_MS, t_ms)
            return Truth(t_ms, tuple(Energy(*c) for c in phase_c), Energy(*vector_c))

    def truth(self):
        return self.truth_at(self.now_ms)

    def truth_between(self, t0_ms, t1_ms):
        """Ground truth of the span (t0_ms, t1_ms]."""
        return self.truth_at(t1_ms).since(self.truth_at(t0_ms))

    # --- what the meter measures and shows ------------------------------------------------

    def metered(self):
        """The meter's own cumulative counters (exact uJ / uvar.s by quadrant), summed the
        meter's way (vector or arithmetic); its registers and S0 outputs derive from these.
        They equal the truth's vector (or arithmetic) sum unless a CT fault was set."""
        with self.lock:
            return Energy(*self._metered)

    def power_at(self, t_ms):
        """True (p mW, q mvar) per phase in force at t_ms: the tick [k*tick, (k+1)*tick)."""
        with self.lock:
            p, q = self._hour(t_ms // HOUR_MS)
            i = (t_ms % HOUR_MS) // self.tick_ms
            return [(p[j][i], q[j][i]) for j in range(self.phases)]

    def instant(self, measured=True):
        """Instantaneous values at now; measured=False shows the truth, without CT faults."""
        with self.lock:
            t = self.now_ms
            phases = []
            for j, (p_mw, q_mvar) in enumerate(self.power_at(t)):
                gain = self._gains[j] / _FULL_GAIN if measured else 1.0
                true_p = p_mw / 1000.0
                p = true_p * gain
                q = q_mvar / 1000.0 * gain
                s = math.hypot(p, q)
                v = self.site.voltage_v(j, t, true_p)
                pf = p / s if s else 1.0
                phases.append(PhaseInstant(v=v, i=s / v, p=p, q=q, s=s, pf=pf))
            return Instant(t, tuple(phases), self.site.frequency_hz(t))

    # --- CT faults --------------------------------------------------------------------------

    def invert_ct(self, phase, inverted=True):
        """Phase 0..2: the CT is mounted backwards, so P and Q of that phase change sign."""
        with self.lock:
            magnitude = abs(self._gains[phase])
            self._gains[phase] = -magnitude if inverted else magnitude

    def attenuate_ct(self, phase, percent):
        """Phase 0..2: the CT reads `percent` % low (current, P, Q and S scaled down)."""
        if not 0 <= percent <= 100:
            raise ValueError("percent must be 0..100")
        with self.lock:
            sign = -1 if self._gains[phase] < 0 else 1
            self._gains[phase] = sign * round(_FULL_GAIN * (100 - percent) / 100)

    def clear_ct_faults(self):
        with self.lock:
            self._gains = [_FULL_GAIN] * self.phases

    # --- S0 ------------------------------------------------------------------------------

    def edges(self, t0_ms, t1_ms):
        """S0 edges (t_ms, channel, level) with t0_ms < t_ms <= t1_ms <= now, in time order.

        channel is "import" or "export"; level 1 is the closed contact (pulse on).
        """
        with self.lock:
            if t1_ms > self.now_ms:
                raise ValueError("edges are known up to now (%d ms)" % self.now_ms)
            merged = [
                (t, name, level)
                for name, channel in self.s0.items()
                for t, level in channel.edges(t0_ms, t1_ms)
            ]
            merged.sort(key=lambda edge: (edge[0], edge[1]))
            return merged

    # --- internals -----------------------------------------------------------------------

    def _zero_counters(self):
        return ([[0] * 6 for _ in range(self.phases)], [0] * 6)

    @staticmethod
    def _copy(counters):
        phase_c, vector_c = counters
        return [list(c) for c in phase_c], list(vector_c)

    def _hour(self, index):
        if index not in self._hours:
            self._hours[index] = self.site.hour(index)
        return self._hours[index]

    def _segments(self, a, b):
        """Split [a, b) into runs of equal-length pieces of ticks within one hour:
        yields (p_arrays, q_arrays, first tick, end tick, dt_ms, start ms)."""
        tick = self.tick_ms
        while a < b:
            hour = a // HOUR_MS
            h0 = hour * HOUR_MS
            p, q = self._hour(hour)
            end = min(b, h0 + HOUR_MS)
            i = (a - h0) // tick
            tick_start = h0 + i * tick
            if a != tick_start or end < tick_start + tick:
                piece_end = min(end, tick_start + tick)
                yield p, q, i, i + 1, piece_end - a, a
                a = piece_end
                continue
            whole = (end - a) // tick
            yield p, q, i, i + whole, tick, a
            a += whole * tick

    def _integrate(self, phase_c, vector_c, a, b):
        for p, q, i0, i1, dt, _ in self._segments(a, b):
            book_ticks(phase_c, vector_c, p, q, i0, i1, dt)

    def _measured(self, arrays, i0, i1):
        """Ticks i0..i1-1 of each phase as the meter measures them (CT gains applied)."""
        measured = []
        for gain, values in zip(self._gains, arrays, strict=True):
            part = values[i0:i1]
            if gain != _FULL_GAIN:
                part = [v * gain // _FULL_GAIN for v in part]
            measured.append(part)
        return measured

    def _meter_span(self, a, b):
        """Integrate the meter's own counters over [a, b) and emit the S0 pulses they owe."""
        counters = self._metered
        imp_channel, exp_channel = self.s0[IMPORT], self.s0[EXPORT]
        for p, q, i0, i1, dt, start in self._segments(a, b):
            ps, qs = self._measured(p, i0, i1), self._measured(q, i0, i1)
            if self.summation == VECTOR and self.phases > 1:
                ps = [[sum(v) for v in zip(*ps, strict=True)]]
                qs = [[sum(v) for v in zip(*qs, strict=True)]]
            imp_rates, exp_rates, quadrants = _split_by_quadrant(ps, qs, i1 - i0)
            for slot, value in zip((2, 3, 4, 5), quadrants, strict=True):
                counters[slot] += value * dt
            for slot, rates, channel in ((0, imp_rates, imp_channel), (1, exp_rates, exp_channel)):
                counters[slot] = _integrate_pulses(counters[slot], rates, channel, start, dt)


def _split_by_quadrant(ps, qs, n):
    """Per-tick import and export rates summed over phases, and the reactive totals of
    quadrants Q1..Q4 (Q1/Q4 while importing, Q2/Q3 while exporting)."""
    imp_rates, exp_rates = [0] * n, [0] * n
    q1 = q2 = q3 = q4 = 0
    for phase_p, phase_q in zip(ps, qs, strict=True):
        for k, (pv, qv) in enumerate(zip(phase_p, phase_q, strict=True)):
            if pv >= 0:
                imp_rates[k] += pv
                if qv >= 0:
                    q1 += qv
                else:
                    q4 -= qv
            else:
                exp_rates[k] -= pv
                if qv >= 0:
                    q2 += qv
                else:
                    q3 -= qv
    return imp_rates, exp_rates, (q1, q2, q3, q4)


def _integrate_pulses(energy, rates, channel, t, dt):
    """Add each tick's rate * dt to energy, feeding channel a pulse as each one is owed;
    returns the energy."""
    next_pulse = (channel.pulses + 1) * channel.energy_per_pulse
    for rate in rates:
        if rate:
            before = energy
            energy += rate * dt
            if energy >= next_pulse:
                channel.feed(t, rate, before, energy)
                next_pulse = (channel.pulses + 1) * channel.energy_per_pulse
        t += dt
    return energy
