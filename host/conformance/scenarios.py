"""Conformance scenarios: a site, a device configuration, a fault schedule, expected flags.

Times are meter milliseconds (t = 0 is midnight of the simulated day). Each fault is
(t_ms, name, argument) and is applied by the runner just before the step that reaches t.
`expect` maps a flag name to the window (t0, t1) in which it must appear on at least one
interval; it may appear on no interval outside it (the interval holding t1 included).

("power_cut", ms) cuts the board's power for ms; ("power_cut", ms, "clock_unset") brings it
back with its clock unset (a board without a battery-backed clock, docs/timekeeping.md)
until ("time_known",), the host's SET_TIME over the link.
"""

from dataclasses import dataclass, field

from host.sim.pulses import Bounce
from host.sim.site import HOUR_MS, MINUTE_MS, SiteConfig

BASE = {
    "poll_period_s": 15,
    "rs485": {"baud": 115200},
    "timeout_ms": 100,
    "retries": 1,
}


@dataclass
class Scenario:
    name: str
    description: str
    site: SiteConfig = field(default_factory=SiteConfig)
    start_ms: int = 12 * HOUR_MS
    hours: float = 1.0
    poll_s: int = 15
    interval_min: int = 15
    sources: tuple = ("registers", "pulses", "power")
    billing: str = "registers"
    summation: str = "vector"
    netting: dict = field(default_factory=dict)  # more netting settings
    pulses: dict | None = None  # the device's "pulses" section (debounce_ms, ...)
    imp_per_kwh: int = 1000
    faults: tuple = ()
    expect: dict = field(default_factory=dict)
    # what the device's own pulse constant / register scale is set to (a wrong setting)
    device_imp_per_kwh: int | None = None
    bounce: bool | Bounce = False  # True: 1 ms bursts the debounce rejects
    separate_pulse_meter: bool = False  # S0 from an upstream meter without the CT fault
    quiet: bool = False  # no energy may be registered at all
    exact_total: bool = True  # sum of records equals the truth over the span
    check_reactive: bool = False
    # power mode: intervals with less true energy are not held to 0.2 % (starting threshold)
    starting_mwh: int = 20_000
    # every record, flagged or not, holds the truth of its own span, and the records tile
    # the run: no record claims a span of UTC it did not measure
    exact_records: bool = False

    @property
    def end_ms(self):
        return self.start_ms + int(self.hours * HOUR_MS)

    def config(self):
        cfg = dict(BASE)
        cfg["poll_period_s"] = self.poll_s
        netting = {
            "sources": list(self.sources),
            "billing": self.billing,
            "interval_min": self.interval_min,
            "summation": self.summation,
            "pulse_imp_per_kwh": self.device_imp_per_kwh or self.imp_per_kwh,
        }
        netting.update(self.netting)
        cfg["netting"] = netting
        if self.pulses is not None:
            cfg["pulses"] = dict(self.pulses)
        return cfg


def gap_flags(flag, t0, t1):
    """flag in (t0, t1), with the gap flags a whole failed poll (or an outage) brings."""
    return {flag: (t0, t1), "DATA_INVALID": (t0, t1), "ESTIMATED": (t0, t1)}


def at(hour, minute=0, second=0):
    return int(hour * HOUR_MS) + minute * MINUTE_MS + second * 1000


DAY_H = 24


def unset_clock_flags(t0, t1):
    """What the one record of a cut with the clock unset carries, in (t0, t1): the board was
    off (POWER_DOWN), ran without knowing the time and had its clock set (CLOCK_ADJUSTED),
    the registers' span crosses the outage (ESTIMATED), power could not be integrated."""
    return {
        "POWER_DOWN": (t0, t1),
        "CLOCK_ADJUSTED": (t0, t1),
        "ESTIMATED": (t0, t1),
        "DATA_INVALID": (t0, t1),
    }


CUT_AT = at(12, 20)


def unset_clock_cut(name, outage_ms, set_after_ms, description, cut=CUT_AT, after_h=1.0):
    """A board without a battery-backed clock (rp2: back at 2021-01-01 after every cut): cut
    at `cut` for outage_ms, its clock unset until the host sets it set_after_ms after boot;
    then after_h hours more. Every record is checked against the truth of its own span."""
    back = cut + outage_ms
    known = back + set_after_ms
    return Scenario(
        name,
        description,
        STEADY,
        hours=(known - at(12)) / HOUR_MS + after_h,
        faults=((cut, "power_cut", outage_ms, "clock_unset"), (known, "time_known")),
        expect=unset_clock_flags(cut, known),
        exact_records=True,
    )


STEADY = SiteConfig(seed=1, profile="steady")
PV = SiteConfig(seed=3, profile="pv_only")
SEESAW = SiteConfig(seed=5, profile="seesaw")

SCENARIOS = [
    Scenario(
        "steady-import", "3 kW steady import, registers billed, pulses and power check", STEADY
    ),
    Scenario("steady-export", "PV-only site at noon: steady export", PV),
    Scenario(
        "power-integration",
        "steady import billed from integrated P and Q (5 s polls)",
        STEADY,
        poll_s=5,
        billing="power",
        check_reactive=True,
    ),
    Scenario(
        "pv-crossing",
        "household PV morning: net crosses zero, registers billed",
        SiteConfig(seed=7),
        start_ms=at(7, 30),
        hours=2,
    ),
    Scenario(
        "pv-day-crossings",
        "small PV (1.5 kW peak) under clouds beside a household's load, 11:00 to 13:00: the "
        "net changes sign five times between 5-minute intervals (registers billed, S0 "
        "checked; power from 15 s samples would miss the kettle's edges)",
        SiteConfig(seed=17, pv_peak_w=1500.0),
        start_ms=at(11),
        hours=2,
        interval_min=5,
        sources=("registers", "pulses"),
    ),
    Scenario(
        "pulses-billed",
        "household PV midday billed from S0 pulses",
        SiteConfig(seed=7),
        start_ms=at(11),
        billing="pulses",
    ),
    Scenario(
        "quiet-night",
        "no load at all: no energy and no pulse may be registered",
        SiteConfig(seed=2, profile="idle"),
        start_ms=at(2),
        quiet=True,
    ),
    Scenario(
        "four-quadrants",
        "household with PV, capacitive standby and inductive loads: "
        "reactive energy per quadrant from power",
        SiteConfig(seed=7),
        start_ms=at(9, 30),
        poll_s=2,
        billing="power",
        check_reactive=True,
    ),
    Scenario(
        "arithmetic-3ph",
        "three phases with opposite flows netted arithmetically (meter and device alike)",
        SiteConfig(seed=7),
        start_ms=at(12),
        poll_s=5,
        starting_mwh=100_000,
        billing="power",
        summation="arithmetic",
    ),
    *(
        Scenario(
            "seesaw-%ds" % poll_s,
            "import and export interleaving minute by minute (+1 kW, -1 kW), %d s polls: "
            "power cannot split the spans that change sign, and the cross-check allows for "
            "exactly that: no false SOURCE_MISMATCH, registers billed exactly" % poll_s,
            SEESAW,
            hours=1,
            poll_s=poll_s,
        )
        for poll_s in (1, 10, 15, 30)
    ),
    Scenario("interval-5min", "5-minute intervals", STEADY, hours=0.5, interval_min=5),
    Scenario(
        "crc-errors",
        "20 replies with a flipped CRC bit",
        STEADY,
        faults=((at(12, 20), "corrupt_crc", 20),),
        expect=gap_flags("COMM_ERROR", at(12, 20), at(12, 40)),
    ),
    Scenario(
        "timeouts",
        "12 requests unanswered",
        STEADY,
        faults=((at(12, 20), "no_reply", 12),),
        expect=gap_flags("COMM_ERROR", at(12, 20), at(12, 40)),
    ),
    Scenario(
        "exception-02",
        "10 replies with exception 02",
        STEADY,
        faults=((at(12, 20), "exception", 2, 10),),
        expect=gap_flags("COMM_ERROR", at(12, 20), at(12, 40)),
    ),
    *(
        Scenario(
            "exception-%02X" % code,
            "10 replies with exception %02X (%s)" % (code, what),
            STEADY,
            hours=0.5,
            interval_min=5,
            faults=((at(12, 10), "exception", code, 10),),
            expect=gap_flags("COMM_ERROR", at(12, 10), at(12, 15)),
        )
        for code, what in (
            (3, "illegal data value"),
            (4, "server device failure"),
            (6, "server busy"),
            (0x0B, "gateway target failed to respond"),
        )
    ),
    Scenario(
        "stale-replies",
        "12 replies held back and delivered when the next request arrives: RTU has no "
        "transaction id, so the device takes each for the answer to its next request and "
        "its readings lag one poll; across the 12:15 boundary the S0 cross-check flags it",
        STEADY,
        hours=0.5,
        interval_min=5,
        faults=((at(12, 14), "stale_reply", 12),),
        expect={"SOURCE_MISMATCH": (at(12, 14), at(12, 18))},
    ),
    Scenario(
        "garbage",
        "20 replies preceded by line noise (00 FF 55): the master skips the bytes before "
        "the frame and takes the reply, so nothing is lost and nothing is flagged",
        STEADY,
        hours=0.5,
        interval_min=5,
        faults=((at(12, 10), "garbage", 20),),
    ),
    Scenario(
        "wrong-unit",
        "12 replies from unit id 2 (valid CRC)",
        STEADY,
        hours=0.5,
        interval_min=5,
        faults=((at(12, 10), "wrong_unit", 12),),
        expect=gap_flags("COMM_ERROR", at(12, 10), at(12, 15)),
    ),
    Scenario(
        "truncated",
        "12 replies cut to half their length",
        STEADY,
        hours=0.5,
        interval_min=5,
        faults=((at(12, 10), "truncate", 12),),
        expect=gap_flags("COMM_ERROR", at(12, 10), at(12, 15)),
    ),
    Scenario(
        "counter-reset",
        "the meter's energy registers restart at 0",
        STEADY,
        faults=((at(12, 20), "reset_counters"),),
        expect={"METER_RESET": (at(12, 20), at(12, 21))},
        exact_total=False,
    ),
    Scenario(
        "rollover",
        "32-bit energy registers preset 1000 counts below the wrap: the jump is flagged, "
        "the wrap 20 minutes later is exact",
        STEADY,
        faults=((at(12, 10), "rollover", 1000),),
        exact_total=False,
        expect={"BAD_READING": (at(12, 10), at(12, 11)), "METER_RESET": (at(12, 10), at(12, 11))},
    ),
    Scenario(
        "stuck-export",
        "the export register sticks at zero for 30 minutes",
        PV,
        faults=((at(12, 10), "stick_export", True), (at(12, 40), "stick_export", False)),
        expect={
            "METER_RESET": (at(12, 10), at(12, 11)),
            "SOURCE_MISMATCH": (at(12, 15), at(12, 40)),
            "RECOVERED": (at(12, 40), at(12, 41)),
        },
    ),
    Scenario(
        "inverted-ct",
        "L2's CT mounted backwards in the Modbus meter; S0 pulses come "
        "from the utility meter upstream",
        STEADY,
        sources=("registers", "pulses"),
        separate_pulse_meter=True,
        faults=((at(12, 15), "invert_ct", 1),),
        expect={"SOURCE_MISMATCH": (at(12, 15), at(13))},
    ),
    Scenario(
        "attenuated-ct",
        "L1's CT reads 30 % low in the Modbus meter from 12:15; S0 pulses come from the "
        "utility meter upstream",
        STEADY,
        hours=0.75,
        sources=("registers", "pulses"),
        separate_pulse_meter=True,
        faults=((at(12, 15), "attenuate_ct", 0, 30),),
        expect={"SOURCE_MISMATCH": (at(12, 15), at(12, 45))},
    ),
    Scenario(
        "lost-pulses",
        "the S0 wiring loses every 10th pulse from 12:15 to 12:30; registers billed",
        STEADY,
        hours=0.75,
        faults=((at(12, 15), "drop_pulses", 10), (at(12, 30), "drop_pulses", 0)),
        expect={"SOURCE_MISMATCH": (at(12, 15), at(12, 30))},
    ),
    Scenario(
        "bounce-past-filter",
        "S0 contacts bounce for 44 ms (one 22 ms open-close pair) on a third of their "
        "transitions, longer than the 20 ms debounce: the extra counts get through, and the "
        "cross-check against the registers flags every interval",
        STEADY,
        hours=0.5,
        interval_min=5,
        bounce=Bounce(max_pairs=1, spacing_ms=22, probability=0.33),
        expect={"SOURCE_MISMATCH": (at(12), at(12, 30))},
    ),
    Scenario(
        "bounce",
        "every S0 pulse bounces; billed from pulses",
        STEADY,
        billing="pulses",
        bounce=True,
        expect={"PULSES_REJECTED": (at(12), at(13))},
    ),
    Scenario(
        "clock-step",
        "the board's clock is set back 2 minutes",
        STEADY,
        faults=((at(12, 20), "clock_step", -2 * MINUTE_MS),),
        # A step seen only in a reading (no SET_TIME) leaves the registers no elapsed time
        # for that reading: its rise is rejected once (BAD_READING), then booked.
        expect={
            "CLOCK_ADJUSTED": (at(12, 20), at(12, 30)),
            "BAD_READING": (at(12, 20), at(12, 30)),
        },
    ),
    Scenario(
        "set-time",
        "the host's SET_TIME over the link (signed with the device key) steps the clock "
        "back 2 minutes at 12:20: the open interval closes at once",
        STEADY,
        hours=0.75,
        faults=((at(12, 20), "set_time", -2 * MINUTE_MS),),
        # The sources shift their last reading with the clock: no reading is rejected.
        expect={"CLOCK_ADJUSTED": (at(12, 20), at(12, 30))},
    ),
    Scenario(
        "set-time-forward",
        "SET_TIME steps the clock 3 minutes forward at 12:20 (a hole in the timeline)",
        STEADY,
        hours=0.75,
        faults=((at(12, 20), "set_time", 3 * MINUTE_MS),),
        expect={"CLOCK_ADJUSTED": (at(12, 20), at(12, 30))},
    ),
    Scenario(
        "power-cut",
        "the board is off for 7 minutes; registers recover the energy",
        STEADY,
        faults=((at(12, 20), "power_cut", 7 * MINUTE_MS),),
        expect=gap_flags("POWER_DOWN", at(12, 20), at(12, 27)),
    ),
    unset_clock_cut(
        "unset-clock-1min",
        MINUTE_MS,
        30_000,
        "no battery clock: off 1 minute, back with the clock at 2021-01-01; the host sets it "
        "30 s after boot (in the same interval): the interval open at the cut closes at the "
        "next boundary, one record, nothing in the wrong time base",
    ),
    unset_clock_cut(
        "unset-clock-1-interval",
        40 * MINUTE_MS,
        15 * MINUTE_MS,
        "no battery clock: off 40 minutes, the clock set 15 minutes (one interval) after boot: "
        "one record from the interval open at the cut to the boundary after the set",
    ),
    unset_clock_cut(
        "unset-clock-3-days",
        3 * DAY_H * HOUR_MS,
        2 * HOUR_MS,
        "no battery clock: off 3 days, the clock set 2 hours (8 intervals) after boot: one "
        "record of 3 days 2 hours and more, holding exactly the registers' delta",
    ),
    unset_clock_cut(
        "unset-clock-3-days-set-at-once",
        3 * DAY_H * HOUR_MS,
        15_000,
        "no battery clock: off 3 days, the host sets the clock 15 s after boot",
        after_h=0.5,
    ),
    Scenario(
        "unset-clock-cut-twice",
        "no battery clock: off 10 minutes, 20 minutes later off 5 minutes more while the "
        "clock is still unset, then set 30 minutes later: the held pulses and flags survive "
        "the second cut in the checkpoint; still one record",
        STEADY,
        hours=2,
        faults=(
            (at(12, 20), "power_cut", 10 * MINUTE_MS, "clock_unset"),
            (at(12, 50), "power_cut", 5 * MINUTE_MS, "clock_unset"),
            (at(13, 25), "time_known"),
        ),
        expect=unset_clock_flags(at(12, 20), at(13, 25)),
        exact_records=True,
    ),
]
SCENARIOS = {s.name: s for s in SCENARIOS}


def select(name):
    if name in (None, "all"):
        return list(SCENARIOS.values())
    if name not in SCENARIOS:
        raise KeyError("no scenario %r (known: %s)" % (name, ", ".join(SCENARIOS)))
    return [SCENARIOS[name]]
