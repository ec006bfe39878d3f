"""Deterministic power flows of a simulated site: loads, PV and reactive power per phase."""

import math
import random
from array import array
from dataclasses import dataclass

SECOND_MS = 1000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# The site is always modelled as three circuits; a single-phase site folds them onto L1 so
# that both kinds of site see the same appliances.
CIRCUITS = 3


@dataclass(frozen=True)
class Appliance:
    """A load switched on for a span: constant P (W) and Q (var, + inductive, - capacitive)."""

    name: str
    circuit: int
    start_ms: int  # absolute simulation time
    duration_ms: int
    p_w: float
    q_var: float


@dataclass(frozen=True)
class Cycler:
    """A load that cycles on and off all day (fridge, HVAC compressor) within some hours."""

    name: str
    circuit: int
    period_min: int
    on_min: int
    p_w: float
    q_var: float
    from_hour: float = 0.0
    to_hour: float = 24.0


@dataclass(frozen=True)
class Profile:
    """The shape of one kind of site; all powers are consumer-frame (import positive)."""

    base_w: tuple  # per circuit, scaled by the day shape
    shape: tuple  # (hour of day, factor) knots, linear in between
    base_q_ratio: float  # Q of the base load per W (motors, transformers)
    standby_q_var: tuple  # per circuit, always on; negative = capacitive electronics
    pv_peak_w: float
    cyclers: tuple
    # (name, circuit, earliest hour, latest hour, duration min, P W, Q var), one per day each
    daily: tuple
    # A power-factor correction bank switched by the clock: (q_var per circuit, on h, off h)
    capacitor_bank: tuple = (0.0, 0.0, 0.0)
    # Load noise per tick: base x (noise_low + noise_span x uniform [0, 1)).
    noise_low: float = 0.95
    noise_span: float = 0.1


HOUSEHOLD = Profile(
    base_w=(90.0, 70.0, 110.0),
    shape=(
        (0, 1.0),
        (5.5, 0.9),
        (6.5, 2.5),
        (8.5, 2.0),
        (12, 1.6),
        (16, 1.8),
        (18.5, 4.5),
        (21, 3.5),
        (23, 1.5),
        (24, 1.0),
    ),
    base_q_ratio=0.25,
    standby_q_var=(-70.0, -60.0, -80.0),
    pv_peak_w=6000.0,
    cyclers=(Cycler("fridge", 1, 45, 15, 130.0, 100.0),),
    daily=(
        ("kettle", 0, 6.5, 8.0, 4, 2000.0, 0.0),
        ("kettle", 0, 12.0, 13.5, 4, 2000.0, 0.0),
        ("kettle", 0, 16.0, 20.0, 4, 2000.0, 0.0),
        ("washer heating", 2, 9.0, 15.0, 20, 2000.0, 0.0),
        ("oven", 0, 17.5, 18.5, 45, 2200.0, 0.0),
        ("dishwasher heating", 1, 20.0, 21.5, 25, 1800.0, 0.0),
        ("vacuum cleaner", 2, 10.0, 17.0, 25, 900.0, 650.0),
        ("heat pump", 2, 1.0, 4.0, 90, 1200.0, 900.0),
    ),
)

COMMERCIAL = Profile(
    base_w=(2500.0, 2200.0, 2800.0),
    shape=(
        (0, 0.3),
        (6, 0.3),
        (8, 1.0),
        (12, 0.85),
        (13, 1.0),
        (18, 0.9),
        (20, 0.35),
        (24, 0.3),
    ),
    base_q_ratio=0.45,
    standby_q_var=(0.0, 0.0, 0.0),
    pv_peak_w=30000.0,
    cyclers=tuple(
        Cycler("hvac", c, 30, 12, 1500.0, 1100.0, from_hour=8.0, to_hour=18.0) for c in range(3)
    ),
    daily=(
        ("lift motor", 0, 8.0, 17.0, 30, 3000.0, 2500.0),
        ("kitchen", 1, 11.0, 12.0, 90, 4000.0, 0.0),
    ),
    capacitor_bank=(-1300.0, 6.5, 19.0),
)

# Test sites for the conformance suite: a steady load, a PV-only site, a site drawing nothing.
STEADY = Profile(
    base_w=(1100.0, 900.0, 1000.0),
    shape=((0, 1.0), (24, 1.0)),
    base_q_ratio=0.3,
    standby_q_var=(0.0, -400.0, 0.0),
    pv_peak_w=0.0,
    cyclers=(),
    daily=(),
    noise_low=0.995,
    noise_span=0.01,
)
PV_ONLY = Profile(
    base_w=(20.0, 20.0, 20.0),
    shape=((0, 1.0), (24, 1.0)),
    base_q_ratio=0.0,
    standby_q_var=(0.0, 0.0, 0.0),
    pv_peak_w=9000.0,
    cyclers=(),
    daily=(),
)
IDLE = Profile(
    base_w=(0.0, 0.0, 0.0),
    shape=((0, 1.0), (24, 1.0)),
    base_q_ratio=0.0,
    standby_q_var=(0.0, 0.0, 0.0),
    pv_peak_w=0.0,
    cyclers=(),
    daily=(),
)
# A site whose power changes sign minute by minute: about 1 kW exported all the time (a
# battery discharging to the grid) beside a 2 kW load switched on every other minute.
SEESAW = Profile(
    base_w=(-400.0, -300.0, -300.0),
    shape=((0, 1.0), (24, 1.0)),
    base_q_ratio=0.0,
    standby_q_var=(0.0, -200.0, 0.0),
    pv_peak_w=0.0,
    cyclers=(Cycler("heater", 0, 2, 1, 2000.0, 300.0),),
    daily=(),
    noise_low=0.995,
    noise_span=0.01,
)

PROFILES = {
    "household": HOUSEHOLD,
    "commercial": COMMERCIAL,
    "steady": STEADY,
    "pv_only": PV_ONLY,
    "idle": IDLE,
    "seesaw": SEESAW,
}


@dataclass(frozen=True)
class SiteConfig:
    """What is simulated; t = 0 is midnight plus day_offset_ms (all times in integer ms)."""

    seed: int = 1
    phases: int = 3  # 1 or 3
    profile: str = "household"
    pv_peak_w: float | None = None  # None: the profile's default; 0: no PV
    nominal_v: float = 230.0
    nominal_hz: float = 50.0
    tick_ms: int = 1000  # power is constant within a tick; must divide one minute
    day_offset_ms: int = 0


def _interpolate(knots, x):
    for (x0, y0), (x1, y1) in zip(knots, knots[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return knots[-1][1]


def _clear_sky(hour):
    """Relative PV output on a clear day: daylight from 06:00 to 20:00, peak at 13:00."""
    if not 6.0 < hour < 20.0:
        return 0.0
    return math.sin(math.pi * (hour - 6.0) / 14.0) ** 1.5


def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


_HOUR_CACHE = {}  # (SiteConfig, hour index) -> generated hour, oldest first
_HOUR_CACHE_SIZE = 128  # about 11 MB at one-second ticks


class Site:
    """Per-phase P (mW) and Q (mvar) for every tick, generated an hour at a time.

    Everything derives from the seed, and each hour and each day has its own random stream,
    so the flows do not depend on the order in which hours are asked for.
    """

    CLOUD_KNOT_MS = 10 * MINUTE_MS

    def __init__(self, config=SiteConfig()):
        if config.phases not in (1, 3):
            raise ValueError("phases must be 1 or 3, not %r" % config.phases)
        if config.profile not in PROFILES:
            raise ValueError("profile must be one of %s" % ", ".join(sorted(PROFILES)))
        if config.tick_ms <= 0 or MINUTE_MS % config.tick_ms:
            raise ValueError("tick_ms must divide one minute, not %r" % config.tick_ms)
        if config.day_offset_ms % config.tick_ms:
            raise ValueError("day_offset_ms must be a whole number of ticks")
        self.config = config
        self.profile = PROFILES[config.profile]
        self.phases = config.phases
        self.tick_ms = config.tick_ms
        self.ticks_per_hour = HOUR_MS // config.tick_ms
        self.pv_peak_w = self.profile.pv_peak_w if config.pv_peak_w is None else config.pv_peak_w
        self._days = {}

    def _rng(self, stream, index):
        # An int seed keeps random.Random deterministic across processes (no str hashing).
        return random.Random(((self.config.seed * 1_000_003) + stream) * 10_000_019 + index)

    def _day(self, day):
        """Appliance runs and cloud knots of one calendar day, in absolute time."""
        if day in self._days:
            return self._days[day]
        rng = self._rng(1, day)
        midnight = day * DAY_MS - self.config.day_offset_ms
        runs = []
        for name, circuit, earliest, latest, minutes, p_w, q_var in self.profile.daily:
            start_min = rng.randint(int(earliest * 60), int(latest * 60))
            runs.append(
                Appliance(
                    name,
                    circuit,
                    midnight + start_min * MINUTE_MS,
                    minutes * MINUTE_MS,
                    p_w,
                    q_var,
                )
            )
        for cycler in self.profile.cyclers:
            offset_min = rng.randrange(cycler.period_min)
            start_min = int(cycler.from_hour * 60) + offset_min
            while start_min < cycler.to_hour * 60:
                runs.append(
                    Appliance(
                        cycler.name,
                        cycler.circuit,
                        midnight + start_min * MINUTE_MS,
                        cycler.on_min * MINUTE_MS,
                        cycler.p_w,
                        cycler.q_var,
                    )
                )
                start_min += cycler.period_min
        bank_q, bank_on, bank_off = self.profile.capacitor_bank
        if bank_q:
            for circuit in range(CIRCUITS):
                runs.append(
                    Appliance(
                        "capacitor bank",
                        circuit,
                        midnight + int(bank_on * HOUR_MS),
                        int((bank_off - bank_on) * HOUR_MS),
                        0.0,
                        bank_q,
                    )
                )
        cloudiness = rng.uniform(0.0, 0.5)
        knots = [1.0 - cloudiness * rng.random() for _ in range(DAY_MS // self.CLOUD_KNOT_MS + 1)]
        self._days[day] = (runs, knots)
        return self._days[day]

    def appliances(self, day):
        """The appliance runs of a calendar day (day 0 holds t = 0)."""
        return list(self._day(day)[0])

    def pv_w(self, t_ms):
        """PV production (W, positive) at absolute time t_ms."""
        if not self.pv_peak_w:
            return 0.0
        local = t_ms + self.config.day_offset_ms
        day, in_day = divmod(local, DAY_MS)
        clear = _clear_sky(in_day / HOUR_MS)
        if not clear:
            return 0.0
        knots = self._day(day)[1]
        k, rest = divmod(in_day, self.CLOUD_KNOT_MS)
        frac = rest / self.CLOUD_KNOT_MS
        cloud = knots[k] + (knots[k + 1] - knots[k]) * frac
        return self.pv_peak_w * clear * cloud

    def pv_q_var(self, pv_w):
        """Inverter reactive power, consumer frame: it supplies vars at low output (Q < 0)
        and absorbs them at high output (Q > 0), as a cos-phi(P) grid-support curve does."""
        if pv_w <= 0.0:
            return 0.0
        return 0.3 * pv_w if pv_w > 0.5 * self.pv_peak_w else -0.15 * pv_w

    def hour(self, index):
        """(p, q): per phase, arrays of int mW and int mvar for each tick of hour `index`.

        Shared, do not modify: hours are cached across Site objects of equal configuration,
        since tests build many meters of the same site.
        """
        key = (self.config, index)
        cached = _HOUR_CACHE.get(key)
        if cached is None:
            cached = _HOUR_CACHE[key] = self.generate_hour(index)
            while len(_HOUR_CACHE) > _HOUR_CACHE_SIZE:
                del _HOUR_CACHE[next(iter(_HOUR_CACHE))]
        return cached

    def generate_hour(self, index):
        """hour(index) computed afresh, bypassing the cache."""
        n = self.ticks_per_hour
        tick = self.tick_ms
        t0 = index * HOUR_MS
        extra_p = [[0.0] * n for _ in range(CIRCUITS)]
        extra_q = [[0.0] * n for _ in range(CIRCUITS)]
        local0 = t0 + self.config.day_offset_ms
        # A run of the day before can reach past midnight into this hour.
        first_day = local0 // DAY_MS - 1
        for day in range(first_day, (local0 + HOUR_MS - 1) // DAY_MS + 1):
            for run in self._day(day)[0]:
                first = max(0, (run.start_ms - t0) // tick)
                last = min(n, -(-(run.start_ms + run.duration_ms - t0) // tick))
                ps, qs = extra_p[run.circuit], extra_q[run.circuit]
                for i in range(first, last):
                    ps[i] += run.p_w
                    qs[i] += run.q_var
        profile = self.profile
        random_unit = self._rng(2, index).random
        q_ratio = profile.base_q_ratio
        # Shape and PV change slowly: evaluated once a minute; load noise is per tick.
        per_minute = MINUTE_MS // tick
        factors, pv_p, pv_q = [], [], []
        for minute in range(60):
            mid = t0 + minute * MINUTE_MS + MINUTE_MS // 2
            hour_of_day = ((mid + self.config.day_offset_ms) % DAY_MS) / HOUR_MS
            factors.append(_interpolate(profile.shape, hour_of_day))
            pv = self.pv_w(mid)
            pv_p.append(pv / CIRCUITS)
            pv_q.append(self.pv_q_var(pv) / CIRCUITS)
        circuits_p, circuits_q = [], []
        for c in range(CIRCUITS):
            ps, qs = extra_p[c], extra_q[c]
            base_w, standby = profile.base_w[c], profile.standby_q_var[c]
            for minute in range(60):
                base = base_w * factors[minute]
                pv_share, pv_q_share = pv_p[minute], pv_q[minute]
                for i in range(minute * per_minute, (minute + 1) * per_minute):
                    # Uniform +-5 % noise: as good as Gaussian here and much cheaper.
                    load = base * (profile.noise_low + profile.noise_span * random_unit())
                    ps[i] += load - pv_share
                    qs[i] += load * q_ratio + standby + pv_q_share
            circuits_p.append(ps)
            circuits_q.append(qs)
        if self.phases == 1:
            circuits_p = [[sum(v) for v in zip(*circuits_p, strict=True)]]
            circuits_q = [[sum(v) for v in zip(*circuits_q, strict=True)]]
        p_out = [array("i", [round(v * 1000.0) for v in ps]) for ps in circuits_p]
        q_out = [array("i", [round(v * 1000.0) for v in qs]) for qs in circuits_q]
        return p_out, q_out

    def noise(self, stream, t_ms, period_ms=100):
        """A repeatable value in [-1, 1) for (stream, t_ms // period_ms)."""
        key = (self.config.seed * 0x100000001B3 + stream * 0x1000193 + t_ms // period_ms) & (
            0xFFFFFFFFFFFFFFFF
        )
        return _splitmix64(key) / 2.0**63 - 1.0

    def voltage_v(self, phase, t_ms, p_w):
        """Phase voltage: a slow daily swing, a drop under import (a rise under export), noise."""
        day_angle = 2.0 * math.pi * ((t_ms + self.config.day_offset_ms) % DAY_MS) / DAY_MS
        swing = 2.5 * math.sin(day_angle + 2.1 * phase)
        return self.config.nominal_v + swing - 0.0009 * p_w + 0.4 * self.noise(10 + phase, t_ms)

    def frequency_hz(self, t_ms):
        slow = 0.03 * math.sin(2.0 * math.pi * t_ms / (17 * MINUTE_MS))
        return self.config.nominal_hz + slow + 0.005 * self.noise(20, t_ms)
