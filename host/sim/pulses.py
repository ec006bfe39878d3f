"""S0 pulse outputs of the simulated meter: edges timed exactly from the metered energy."""

import bisect
import random
from dataclasses import dataclass

from host.sim.energy import UJ_PER_MWH

IMPORT = "import"
EXPORT = "export"
UJ_PER_KWH = 1000 * 1000 * UJ_PER_MWH


@dataclass(frozen=True)
class Bounce:
    """Contact bounce: after a transition, 1..max_pairs extra (opposite, back) edge pairs,
    spacing_ms apart, on a `probability` share of transitions (seeded, repeatable)."""

    max_pairs: int = 3
    spacing_ms: int = 1
    probability: float = 1.0


@dataclass(frozen=True)
class S0Config:
    """DIN 43864 output: pulse width >= 30 ms; off time defaults to the width."""

    imp_per_kwh: int = 1000
    width_ms: int = 50
    gap_ms: int | None = None
    bounce: Bounce | None = None

    def energy_per_pulse_uj(self):
        if self.imp_per_kwh <= 0 or UJ_PER_KWH % self.imp_per_kwh:
            raise ValueError("imp_per_kwh must divide 3.6e12 (uJ per kWh)")
        return UJ_PER_KWH // self.imp_per_kwh


class PulseChannel:
    """One S0 output. Level 1 means the contact is closed (pulse on).

    A pulse starts at the first integer ms at which the metered energy reaches the next
    multiple of the energy per pulse. When pulses come faster than width + gap allows, the
    output queues them, as real meters do: then `pending(now)` is non-zero for a while.
    The invariant is: rising pulse starts up to now + pending(now) == floor(E / E_pulse).
    """

    def __init__(self, name, config, seed=0):
        if config.width_ms < 30:
            raise ValueError("S0 pulse width must be at least 30 ms")
        self.name = name
        self.energy_per_pulse = config.energy_per_pulse_uj()
        self.width_ms = config.width_ms
        self.gap_ms = config.width_ms if config.gap_ms is None else config.gap_ms
        self.bounce = config.bounce
        if self.bounce and 2 * self.bounce.max_pairs * self.bounce.spacing_ms >= min(
            self.width_ms, self.gap_ms
        ):
            raise ValueError("bounce bursts must end well within the pulse width and gap")
        self._rng = random.Random(seed)
        self.pulses = 0  # pulses due so far (floor of metered energy / energy per pulse)
        self._next_free_ms = None
        self.starts = []  # start time (ms) of each pulse, in order
        self._edge_times = []
        self._edge_levels = []

    def feed(self, t0_ms, rate_mw, energy_before_uj, energy_after_uj):
        """Energy grew linearly at rate_mw (mW = uJ/ms) from t0_ms; emit the pulses it owes."""
        due = energy_after_uj // self.energy_per_pulse
        while self.pulses < due:
            self.pulses += 1
            missing = self.pulses * self.energy_per_pulse - energy_before_uj
            wait = -(-missing // rate_mw) if rate_mw > 0 and missing > 0 else 0
            crossing = t0_ms + wait
            self._emit(crossing)

    def _emit(self, crossing_ms):
        start = crossing_ms
        if self._next_free_ms is not None and start < self._next_free_ms:
            start = self._next_free_ms
        end = start + self.width_ms
        self.starts.append(start)
        self._transition(start, 1)
        self._transition(end, 0)
        self._next_free_ms = end + self.gap_ms

    def _transition(self, t_ms, level):
        self._edge_times.append(t_ms)
        self._edge_levels.append(level)
        bounce = self.bounce
        if bounce and self._rng.random() < bounce.probability:
            for k in range(self._rng.randint(1, bounce.max_pairs)):
                t = t_ms + (2 * k + 1) * bounce.spacing_ms
                self._edge_times += [t, t + bounce.spacing_ms]
                self._edge_levels += [1 - level, level]

    def edges(self, t0_ms, t1_ms):
        """[(t_ms, level)] with t0_ms < t_ms <= t1_ms."""
        lo = bisect.bisect_right(self._edge_times, t0_ms)
        hi = bisect.bisect_right(self._edge_times, t1_ms)
        return list(zip(self._edge_times[lo:hi], self._edge_levels[lo:hi], strict=True))

    def pulses_started(self, t_ms):
        """Pulses whose rising edge is at or before t_ms."""
        return bisect.bisect_right(self.starts, t_ms)

    def pending(self, t_ms):
        """Pulses owed (energy metered) but not yet started; t_ms is the meter's current time."""
        return self.pulses - self.pulses_started(t_ms)


class PulseLoss:
    """A harness that loses every `every`-th S0 pulse (both its edges; 0: none) on the way
    to the board, as a broken wire or a loose terminal would. Pulses are counted per channel
    by their closing edges."""

    def __init__(self):
        self.every = 0
        self._index = {IMPORT: 0, EXPORT: 0}
        self._dropping = {IMPORT: False, EXPORT: False}
        self.dropped = {IMPORT: 0, EXPORT: 0}

    def filter(self, edges):
        """The (t_ms, channel, level) edges that get through, in order."""
        out = []
        for edge in edges:
            _, channel, contact = edge
            if contact == 1:  # a pulse starts
                self._index[channel] += 1
                every = self.every
                self._dropping[channel] = bool(every) and self._index[channel] % every == 0
                if self._dropping[channel]:
                    self.dropped[channel] += 1
            if not self._dropping[channel]:
                out.append(edge)
        return out
