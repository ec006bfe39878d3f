"""The checks of a conformance run: the device's interval records against the simulated
meter's truth, each rule a named function with its tolerance beside it.

check() runs them all and fills a Result; the run itself (simulated.py, hardware.py) only
supplies the records, the meters and where the device's clock stood (frames)."""

from dataclasses import dataclass, field

from shared.record import flag_names

UJ_PER_MWH = 3_600_000
# Flags that say an interval's value is not the measured truth of its own span (a gap, a
# reset, a recovery, an outage, a step, a disagreement): its accuracy is not checked, only
# conservation over the whole run and that the flag was expected there.
QUESTIONABLE = {
    "DATA_INVALID",
    "RECOVERED",
    "METER_RESET",
    "POWER_DOWN",
    "ESTIMATED",
    "CLOCK_ADJUSTED",
    "SOURCE_MISMATCH",
    "BAD_READING",
    "PARTIAL",
}
POWER_TOLERANCE_PCT = 0.2  # ANSI C12.20 class 0.2
STARTING_MWH = 20_000  # intervals below this are not held to the percentage (starting)
REACTIVE_TOLERANCE_PCT = 1.0
REACTIVE_STARTING_MVARH = 2000  # below STARTING_MWH: an absolute tolerance instead
REGISTER_COUNT_MWH = 1000  # one count of the meter's 1 Wh energy register
TOTAL_TOLERANCE_MWH = 2000  # a whole run: a count at each end
PULSE_SLACK = 1  # pulses per interval: the one being timed at the boundary

# Faults the scenarios switch on (scenarios.py), by what they act on.
WIRE_FAULTS = ("corrupt_crc", "no_reply", "exception", "stale_reply", "wrong_unit", "truncate",
               "garbage")  # fmt: skip
CT_FAULTS = ("invert_ct", "attenuate_ct")
REGISTER_FAULTS = ("reset_counters", "rollover", "stick_export")


@dataclass
class Result:
    name: str
    description: str
    passed: bool = False
    worst_error_pct: float = 0.0
    flags_seen: dict = field(default_factory=dict)  # name -> [seq]
    flags_expected: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    intervals: list = field(default_factory=list)  # per record: device vs truth
    wall_s: float = 0.0
    simulated_s: float = 0.0
    # a real board's clock against the host's (hardware mode): clock.ClockOffset.as_dict()
    clock_offset: dict | None = None

    def as_dict(self):
        return dict(self.__dict__)


def meter_span(sim, record, frames, epoch0):
    """(t0, t1) in meter time of a record, undoing the clock steps in frames."""
    offset = 0
    for first_seq, step_ms in frames:
        if record.seq >= first_seq:
            offset += step_ms
    t0 = record.start_utc * 1000 - epoch0 - offset
    return t0, t0 + record.duration_s * 1000


def _truth(meter, scenario, t):
    truth = meter.truth_at(t)
    return truth.arithmetic if scenario.summation == "arithmetic" else truth.vector


def _pct(device, truth):
    if truth == 0:
        return 0.0 if device == 0 else float("inf")
    return (device - truth) / truth * 100


def boundary_slack_mwh(uncertainty_ms, max_power_w):
    """Energy a boundary can be off by when it is known to +- uncertainty_ms only, at up to
    max_power_w: |uncertainty| x power. W x ms = mJ, and 1 mWh = 3600 mJ."""
    return abs(uncertainty_ms) * max_power_w / 3600


def max_power_w(meter, t0_ms, t1_ms):
    """The most power (W, the phases' |P| summed: a bound for A+ and A- alike) in force at
    any instant of [t0_ms, t1_ms] of the meter's truth."""
    tick = meter.tick_ms
    most = 0
    for k in range(int(t0_ms) // tick, int(t1_ms) // tick + 1):
        most = max(most, sum(abs(p) for p, _ in meter.power_at(k * tick)))
    return most / 1000


class BoundaryAllowance:
    """What an interval boundary at meter time t may be off by (mWh) when the board runs on
    its own time (a real board, or the simulated one on the wall clock), as a callable
    for check(boundary=...).

    The board stamps its reading when its poll starts, at the boundary (its clock known to
    +- uncertainty_ms on the meter's); the meter answers a little later (the request on
    the wire, the board's loop), at the times in reads (ReadLog): the board's cut lies
    between t - u and the poll's last answer. And as its reading lands just after the
    boundary, not on it, the board splits that poll's register delta there in whole counts
    (rounding down): half a count more per end (an interval is then within two counts of
    the truth, not one)."""

    def __init__(self, scenario, meter, reads, uncertainty_ms):
        self.meter = meter
        self.reads = reads
        self.u = uncertainty_ms
        self.window_ms = scenario.poll_s * 1000 / 2
        self.split = REGISTER_COUNT_MWH / 2 if scenario.billing == "registers" else 0
        self.worst_lag_ms = 0

    def __call__(self, t):
        u = self.u
        late = max((r - t for r in self.reads if t - u <= r < t + self.window_ms), default=0)
        self.worst_lag_ms = max(self.worst_lag_ms, late)
        spread = max(u, late)
        return self.split + boundary_slack_mwh(
            spread, max_power_w(self.meter, t - spread, t + spread)
        )


class ReadLog:
    """The meter as its Modbus server sees it, noting the meter time of every read: when
    the board's poll at an interval boundary was actually answered."""

    def __init__(self, meter):
        self._meter = meter
        self.reads = []

    def sync(self):
        now = self._meter.sync()
        self.reads.append(now)
        return now

    def __getattr__(self, name):
        return getattr(self._meter, name)


def _check_record(scenario, sim, r, frames, epoch0, result, boundary):
    """One record against the meter's truth over its own span: its row in result, problems
    added; returns its energy error in % (0 where it is not compared)."""
    t0, t1 = meter_span(sim, r, frames, epoch0)
    if t0 < 0 or t1 > sim.meter.now_ms:
        result.problems.append(
            "seq %d claims %d..%d ms of meter time, which the run never reached (a wrong "
            "time base)" % (r.seq, t0, t1)
        )
        return 0.0
    row, e0, e1, truth = interval_row(scenario, sim, r, frames, epoch0)
    result.intervals.append(row)
    for name in row["flags"]:
        result.flags_seen.setdefault(name, []).append(r.seq)
    if scenario.quiet:
        check_quiet(r, result.problems)
        return 0.0
    if scenario.exact_records:
        check_energy(scenario, r, truth, result.problems)  # flagged or not
    if QUESTIONABLE & set(row["flags"]):
        return 0.0
    slack = boundary(row["t0_ms"]) + boundary(row["t1_ms"]) if boundary else 0
    if slack:
        row["slack_mwh"] = round(slack, 1)
    error = check_energy(scenario, r, truth, result.problems, slack)
    if scenario.billing == "pulses":
        mwh_per_pulse = 1_000_000 / scenario.imp_per_kwh
        check_interval_pulses(r, row, result.problems, int(-(-slack // mwh_per_pulse)))
    if scenario.check_reactive:
        check_reactive(r, row, e0, e1, result.problems)
    return error


def check(scenario, sim, records, frames, epoch0=None, n_intervals=None, boundary=None):
    """Compare the records with the truth; fill a Result. sim needs .meter, .pulse_meter
    and .metered_at; epoch0 is the device time (Unix ms) of meter time 0. boundary(t), if
    given, is the energy (mWh) an interval boundary at meter time t may be off by, beyond
    the source's own tolerance (a real board's clock, known to some uncertainty only)."""
    from host.sim.run import DAY0_UTC_MS

    epoch0 = DAY0_UTC_MS if epoch0 is None else epoch0
    result = Result(scenario.name, scenario.description)
    result.flags_expected = sorted(scenario.expect)
    if not records:
        result.problems.append("no records")
        return result
    if n_intervals is None:
        n_intervals = (scenario.end_ms - scenario.start_ms) // (scenario.interval_min * 60000)
    check_sequence(records, n_intervals, scenario.interval_min, result.problems)
    worst = 0.0
    for r in records:
        worst = max(worst, _check_record(scenario, sim, r, frames, epoch0, result, boundary))
    span = (
        meter_span(sim, records[0], frames, epoch0)[0],
        meter_span(sim, records[-1], frames, epoch0)[1],
    )
    ends = boundary(span[0]) + boundary(span[1]) if boundary else 0
    in_run = 0 <= span[0] and span[1] <= sim.meter.now_ms
    if in_run and scenario.exact_total and scenario.billing == "registers" and not scenario.quiet:
        check_conservation(scenario, sim, records, span, result.problems, ends)
    if in_run and scenario.billing == "pulses":
        pulses = int(-(-ends // (1_000_000 / scenario.imp_per_kwh)))
        check_pulse_totals(sim.pulse_meter or sim.meter, records, span, result.problems, pulses)
    if scenario.exact_records:
        check_timeline(scenario, result.intervals, result.problems)
    check_flags(scenario, records, result)
    result.worst_error_pct = round(worst, 4)
    result.passed = not result.problems
    return result


def check_sequence(records, n_intervals, interval_min, problems):
    """The seqs follow each other, and no interval of the run is missing. A record may
    cover several intervals (a power cut is one record: docs/timekeeping.md); it counts
    for each interval it covers, a partial one for one."""
    seqs = [r.seq for r in records]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        problems.append("seq not contiguous")
    interval_s = interval_min * 60
    covered = sum(max(1, -(-r.duration_s // interval_s)) for r in records)
    if covered < n_intervals:
        problems.append("%d records, %d intervals expected" % (covered, n_intervals))


def interval_row(scenario, sim, r, frames, epoch0):
    """(row, truth at t0, truth at t1, (true A+, true A-) in mWh): what the device booked
    for a record beside the truth over the same span (row: a row of the report)."""
    meter = sim.meter
    pulse_meter = sim.pulse_meter or meter
    t0, t1 = meter_span(sim, r, frames, epoch0)
    e0, e1 = _truth(meter, scenario, t0), _truth(meter, scenario, t1)
    true_ap = (e1.a_plus - e0.a_plus) / UJ_PER_MWH
    true_am = (e1.a_minus - e0.a_minus) / UJ_PER_MWH
    started_i = pulse_meter.s0["import"].pulses_started
    started_e = pulse_meter.s0["export"].pulses_started
    row = {
        "seq": r.seq,
        "t0_ms": t0,
        "t1_ms": t1,
        "flags": flag_names(r.flags),
        "a_plus": r.a_plus,
        "a_minus": r.a_minus,
        "true_a_plus": round(true_ap, 1),
        "true_a_minus": round(true_am, 1),
        "pulses": [r.pulses_import, r.pulses_export],
        "true_pulses": [started_i(t1) - started_i(t0), started_e(t1) - started_e(t0)],
    }
    return row, e0, e1, (true_ap, true_am)


def check_timeline(scenario, rows, problems):
    """The records tile the run in true time: each starts where the one before ended, none
    lies outside the run. With check_energy on every record, no record claims a span of
    UTC it did not measure (a record in an unset clock's time base fails here)."""
    for before, row in zip(rows, rows[1:]):
        if row["t0_ms"] != before["t1_ms"]:
            problems.append(
                "seq %d starts at %d ms, seq %d ended at %d ms (a hole or an overlap)"
                % (row["seq"], row["t0_ms"], before["seq"], before["t1_ms"])
            )
    for row in rows:
        if row["t0_ms"] < scenario.start_ms or row["t1_ms"] > scenario.end_ms:
            problems.append(
                "seq %d claims %d..%d ms, outside the run"
                % (row["seq"], row["t0_ms"], row["t1_ms"])
            )


def check_quiet(r, problems):
    """A quiet meter books nothing: no energy and no pulses."""
    if r.a_plus or r.a_minus or r.pulses_import or r.pulses_export:
        problems.append("seq %d: phantom energy in a quiet interval" % r.seq)


def energy_ok(scenario, error, true, slack=0):
    """Is an interval's A+ or A- error within what its billing source allows (plus slack
    mWh for where its boundaries stand)?"""
    error = abs(error) - slack
    if scenario.billing == "registers":
        return error < REGISTER_COUNT_MWH
    if scenario.billing == "pulses":
        return error <= 2 * (1_000_000 // scenario.imp_per_kwh)  # plus the one timed
    return true < scenario.starting_mwh or error <= true * POWER_TOLERANCE_PCT / 100


def check_energy(scenario, r, truth, problems, slack=0):
    """A+ and A- of one interval against the truth (mWh); returns the worst error in %."""
    worst = 0.0
    for dev, true, label in ((r.a_plus, truth[0], "A+"), (r.a_minus, truth[1], "A-")):
        if true >= scenario.starting_mwh:
            worst = max(worst, abs(_pct(dev, true)))
        if not energy_ok(scenario, dev - true, true, slack):
            problems.append(
                "seq %d %s: device %d mWh, truth %.0f mWh (%+.3f %%)%s"
                % (r.seq, label, dev, true, _pct(dev, true),
                   ", boundaries +- %.0f mWh" % slack if slack else "")
            )  # fmt: skip
    return worst


def check_interval_pulses(r, row, problems, slack=0):
    """Pulses of one interval: the truth's, give or take the one on the boundary (and
    slack more for where the boundaries stand)."""
    for dev, true, label in zip(row["pulses"], row["true_pulses"], ("import", "export")):
        if abs(dev - true) > PULSE_SLACK + slack:
            problems.append("seq %d %s pulses: %d, truth %d" % (r.seq, label, dev, true))


def check_reactive(r, row, e0, e1, problems):
    """Q1..Q4 of one interval: within the reactive class, or an absolute slack when small."""
    qs = (e1.r_q1 - e0.r_q1, e1.r_q2 - e0.r_q2, e1.r_q3 - e0.r_q3, e1.r_q4 - e0.r_q4)
    row["q"] = [r.q1, r.q2, r.q3, r.q4]
    row["true_q"] = [round(q / UJ_PER_MWH, 1) for q in qs]
    for i, (dev, true) in enumerate(zip(row["q"], row["true_q"], strict=True)):
        if true >= STARTING_MWH and abs(dev - true) > true * REACTIVE_TOLERANCE_PCT / 100:
            problems.append(
                "seq %d Q%d: device %d mvarh, truth %.0f (%+.2f %%)"
                % (r.seq, i + 1, dev, true, _pct(dev, true))
            )
        elif true < STARTING_MWH and abs(dev - true) > REACTIVE_STARTING_MVARH:
            problems.append("seq %d Q%d: device %d, truth %.0f" % (r.seq, i + 1, dev, true))


def check_conservation(scenario, sim, records, span, problems, slack=0):
    """Registers billed, nothing reset: the run's total is exact to a count, against the
    truth, or with a CT fault against what the meter itself counted (give or take slack
    mWh for where the run's ends stand)."""
    t_start, t_end = span
    if any(f[1] in CT_FAULTS for f in scenario.faults):
        reference = "metered"
        e0, e1 = sim.metered_at.get(t_start), sim.metered_at.get(t_end)
        if e0 is None or e1 is None:
            problems.append("no metered counters at %d or %d ms" % (t_start, t_end))
            e0 = e1 = sim.meter.truth_at(t_start).vector
    else:
        reference = "truth"
        e0, e1 = sim.meter.truth_at(t_start).vector, sim.meter.truth_at(t_end).vector
    for field_, label in (("a_plus", "A+"), ("a_minus", "A-")):
        counted = sum(getattr(r, field_) for r in records)
        true = (getattr(e1, field_) - getattr(e0, field_)) / UJ_PER_MWH
        if abs(counted - true) - slack >= TOTAL_TOLERANCE_MWH:
            problems.append(
                "total %s %d mWh, %s %.0f mWh%s"
                % (label, counted, reference, true, ", ends +- %.0f mWh" % slack if slack else "")
            )


def check_pulse_totals(pulse_meter, records, span, problems, slack=0):
    """Pulses billed: every pulse the meter started in the run is counted, exactly (give or
    take slack pulses for where the run's ends stand)."""
    t_start, t_end = span
    for ch, field_ in (("import", "pulses_import"), ("export", "pulses_export")):
        started = pulse_meter.s0[ch].pulses_started
        true = started(t_end) - started(t_start)
        counted = sum(getattr(r, field_) for r in records)
        if abs(counted - true) > slack:
            problems.append("total %s pulses %d, truth %d" % (ch, counted, true))


def check_flags(scenario, records, result):
    """Each expected flag inside its window, none outside; no unexpected flag (a PARTIAL
    on the first record is the device starting mid-interval)."""
    problems = result.problems
    for name, seqs_with in result.flags_seen.items():
        if name == "PARTIAL" and seqs_with == [records[0].seq]:
            continue
        window = scenario.expect.get(name)
        if window is None:
            problems.append("unexpected %s on seq %s" % (name, seqs_with))
            continue
        for row in result.intervals:
            if row["seq"] in seqs_with and not (
                row["t0_ms"] <= window[1] and row["t1_ms"] >= window[0]
            ):
                problems.append("%s on seq %d, outside its window" % (name, row["seq"]))
    for name in scenario.expect:
        if name not in result.flags_seen:
            problems.append("expected %s, never seen" % name)
