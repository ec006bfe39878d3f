"""Run a conformance scenario on the simulated board in lockstep virtual time and check the
device's interval records against the simulated meter's truth."""

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from host.deploy import board_arch, stage
from host.link import Link
from host.sim.meter import SimMeter
from host.sim.modbus import MeterServer
from host.sim.pulses import Bounce, PulseLoss, S0Config
from host.sim.run import Simulation, edges_for_board
from shared.record import FLAG_NAMES, decode

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


def flag_names(flags):
    return [name for bit, name in FLAG_NAMES if flags & bit]


_STAGED = {}


def staged_firmware():
    """The firmware compiled once per process for the simulated board (mpy-cross)."""
    if "dir" not in _STAGED:
        tmp = Path(tempfile.mkdtemp(prefix="netmeter-fw-"))
        arch = board_arch("unix_sim")
        stage(tmp, arch if arch is not None else "sources")
        _STAGED["dir"] = tmp
    return _STAGED["dir"]


class ScenarioSim(Simulation):
    """A Simulation whose S0 pulses may come from a second (upstream) meter, and whose
    harness may lose pulses on the way to the board (a broken wire, a loose terminal)."""

    pulse_meter = None
    drop_every = 0  # lose every n-th S0 pulse (both its edges); 0: lose none

    def __init__(self, *args, **kwargs):
        Simulation.__init__(self, *args, **kwargs)
        self.loss = PulseLoss()
        self.pulses_dropped = self.loss.dropped
        self.link_key = None
        # What the meter itself had counted (its registers' source) at each step: with a CT
        # fault the device can only conserve that, not the truth.
        self.metered_at = {}

    def _lose_pulses(self, edges):
        self.loss.every = self.drop_every
        return self.loss.filter(edges)

    def step_to_cut(self, t_ms, extra_edges=()):
        if t_ms > self.meter.now_ms:  # in real time, a Modbus read may have synced past t
            self.meter.advance_to(t_ms)
        source = self.meter
        if self.pulse_meter is not None:
            self.pulse_meter.advance_to(t_ms)
            source = self.pulse_meter
        meter_edges = self._lose_pulses(source.edges(self.now_ms, t_ms))
        edges = sorted(edges_for_board(meter_edges, self.epoch_ms) + list(extra_edges))
        self.now_ms = t_ms
        self.metered_at[t_ms] = self.meter.metered()
        return self.board.run_to(self.epoch_ms + t_ms, edges)


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

    def as_dict(self):
        return dict(self.__dict__)


def build_meter(scenario):
    bounce = scenario.bounce
    if bounce is True:
        bounce = Bounce(max_pairs=3, spacing_ms=2, probability=1.0)
    bounce = bounce or None
    s0 = S0Config(imp_per_kwh=scenario.imp_per_kwh, bounce=bounce)
    return SimMeter(scenario.site, s0=s0, summation=scenario.summation)


def run_scenario(scenario, directory, deploy_with_mpremote=False, realtime=None):
    """Run one scenario in directory; returns a Result (checked).

    realtime=None: lockstep virtual time, records read from the board's flash directory.
    realtime=speed: the meter follows the wall clock (speed 1.0 is real time), the board is
    run up to wherever the meter is, and the records come back over the link (PULL), as
    they do from a real board."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    config = scenario.config()
    if not deploy_with_mpremote:
        fw = staged_firmware()
        shutil.copytree(fw / "lib", directory / "lib")
        shutil.copy(fw / "main.py", directory / "main.py")
        (directory / "config.json").write_text(json.dumps(dict(config, board="unix_sim")))
    meter = build_meter(scenario)
    sim = ScenarioSim(directory, config, meter, start_ms=scenario.start_ms)
    if scenario.separate_pulse_meter:
        sim.pulse_meter = build_meter(scenario)
    if any(f[1] == "set_time" for f in scenario.faults):
        sim.link_key = os.urandom(32)  # installed as `host deploy` does: link.key, hex
        (directory / "link.key").write_text(sim.link_key.hex() + "\n")
    started = time.monotonic()
    frames = []  # (first seq, ms to subtract from device time): clock steps
    outages = []
    sim.start(deploy_firmware=deploy_with_mpremote)
    sim.metered_at[sim.now_ms] = meter.metered()
    try:
        faults = sorted(scenario.faults, key=lambda f: f[0])
        step = scenario.poll_s * 1000
        if realtime:
            meter.follow_wall_clock(realtime)
        while sim.now_ms < scenario.end_ms:
            while faults and faults[0][0] <= sim.now_ms:
                apply_fault(sim, faults.pop(0), frames, outages)
            if realtime:
                time.sleep(0.05)
                target = meter.sync()
                if target > sim.now_ms:
                    sim.step_to(target)
            else:
                sim.step_to(min(sim.now_ms + step, scenario.end_ms))
        if realtime:
            with Link.open(sim.board.device, timeout=5.0) as link:
                records = [decode(raw) for raw in link.pull_all(0)]
        else:
            records = sim.records()
        unused = sim.server.faults.active()  # counted reply faults the meter never sent
    finally:
        sim.stop()
    result = check(scenario, sim, records, frames)
    if unused:
        result.problems.append("reply faults never sent: %s" % ", ".join(unused))
        result.passed = False
    result.wall_s = time.monotonic() - started
    result.simulated_s = (scenario.end_ms - scenario.start_ms) / 1000
    return result


WIRE_FAULTS = ("corrupt_crc", "no_reply", "exception", "stale_reply", "wrong_unit", "truncate",
               "garbage")  # fmt: skip
CT_FAULTS = ("invert_ct", "attenuate_ct")


def apply_fault(sim, fault, frames, outages):
    _, name, *args = fault
    if name in WIRE_FAULTS:
        getattr(sim.server.faults, name)(*args)
    elif name in ("reset_counters", "rollover", "stick_export"):
        getattr(sim.server.registers, name)(*args)
    elif name in CT_FAULTS:
        getattr(sim.meter, name)(*args)
    elif name == "drop_pulses":
        (sim.drop_every,) = args
    elif name == "set_time":
        # The host's SET_TIME over the link, signed with the device's key, as `host time
        # sync` sends it: the device closes the open interval at once (CLOCK_ADJUSTED).
        (step_ms,) = args
        with Link.open(sim.board.device, key=sim.link_key, timeout=5.0) as link:
            made = link.set_time(sim.epoch_ms + sim.now_ms + step_ms)
        if made != step_ms:
            raise RuntimeError("SET_TIME stepped the clock by %d ms, not %d" % (made, step_ms))
        records = sim.records()
        frames.append((records[-1].seq + 1 if records else 0, step_ms))
        sim.epoch_ms += step_ms
    elif name == "clock_step":
        (step_ms,) = args
        frames.append((len(sim.records()) + 1, step_ms))
        sim.epoch_ms += step_ms
        sim.board.set_clock(sim.epoch_ms + sim.now_ms)
    elif name == "power_cut":
        outages.append((sim.now_ms, args[0]))
        sim.power_cut(args[0])
    else:
        raise ValueError("unknown fault %r" % name)


def meter_span(sim, record, frames, epoch0):
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


def check(scenario, sim, records, frames, epoch0=None, n_intervals=None):
    """Compare the records with the truth; fill a Result. sim needs .meter, .pulse_meter
    and .metered_at; epoch0 is the device time (Unix ms) of meter time 0."""
    from host.sim.run import DAY0_UTC_MS

    epoch0 = DAY0_UTC_MS if epoch0 is None else epoch0

    result = Result(scenario.name, scenario.description)
    result.flags_expected = sorted(scenario.expect)
    problems = result.problems
    meter = sim.meter
    pulse_meter = sim.pulse_meter or meter
    if not records:
        problems.append("no records")
        return result
    seqs = [r.seq for r in records]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        problems.append("seq not contiguous")
    if n_intervals is None:
        n_intervals = (scenario.end_ms - scenario.start_ms) // (scenario.interval_min * 60000)
    if len(records) < n_intervals:
        problems.append("%d records, %d intervals expected" % (len(records), n_intervals))
    pulse_mwh = 1_000_000 // scenario.imp_per_kwh
    worst = 0.0
    for r in records:
        t0, t1 = meter_span(sim, r, frames, epoch0)
        names = flag_names(r.flags)
        for name in names:
            result.flags_seen.setdefault(name, []).append(r.seq)
        e0, e1 = _truth(meter, scenario, t0), _truth(meter, scenario, t1)
        true_ap = (e1.a_plus - e0.a_plus) / UJ_PER_MWH
        true_am = (e1.a_minus - e0.a_minus) / UJ_PER_MWH
        started_i = pulse_meter.s0["import"].pulses_started
        started_e = pulse_meter.s0["export"].pulses_started
        true_pi = started_i(t1) - started_i(t0)
        true_pe = started_e(t1) - started_e(t0)
        row = {
            "seq": r.seq,
            "t0_ms": t0,
            "t1_ms": t1,
            "flags": names,
            "a_plus": r.a_plus,
            "a_minus": r.a_minus,
            "true_a_plus": round(true_ap, 1),
            "true_a_minus": round(true_am, 1),
            "pulses": [r.pulses_import, r.pulses_export],
            "true_pulses": [true_pi, true_pe],
        }
        result.intervals.append(row)
        if scenario.quiet:
            if r.a_plus or r.a_minus or r.pulses_import or r.pulses_export:
                problems.append("seq %d: phantom energy in a quiet interval" % r.seq)
            continue
        if QUESTIONABLE & set(names):
            continue
        for dev, true, label in ((r.a_plus, true_ap, "A+"), (r.a_minus, true_am, "A-")):
            err = dev - true
            if scenario.billing == "registers":
                ok = abs(err) < 1000  # one count of the 1 Wh register
            elif scenario.billing == "pulses":
                ok = abs(err) <= 2 * pulse_mwh  # one pulse, plus the pulse being timed
            else:
                ok = true < scenario.starting_mwh or abs(err) <= true * POWER_TOLERANCE_PCT / 100
            if true >= scenario.starting_mwh:
                worst = max(worst, abs(_pct(dev, true)))
            if not ok:
                problems.append(
                    "seq %d %s: device %d mWh, truth %.0f mWh (%+.3f %%)"
                    % (r.seq, label, dev, true, _pct(dev, true))
                )
        if scenario.billing == "pulses":
            for dev, true, label in ((r.pulses_import, true_pi, "import"),
                                     (r.pulses_export, true_pe, "export")):  # fmt: skip
                if abs(dev - true) > 1:
                    problems.append("seq %d %s pulses: %d, truth %d" % (r.seq, label, dev, true))
        if scenario.check_reactive:
            qs = (e1.r_q1 - e0.r_q1, e1.r_q2 - e0.r_q2, e1.r_q3 - e0.r_q3, e1.r_q4 - e0.r_q4)
            row["q"] = [r.q1, r.q2, r.q3, r.q4]
            row["true_q"] = [round(q / UJ_PER_MWH, 1) for q in qs]
            for i, (dev, true) in enumerate(zip(row["q"], row["true_q"], strict=True)):
                if true >= STARTING_MWH and abs(dev - true) > true * REACTIVE_TOLERANCE_PCT / 100:
                    problems.append(
                        "seq %d Q%d: device %d mvarh, truth %.0f (%+.2f %%)"
                        % (r.seq, i + 1, dev, true, _pct(dev, true))
                    )
                elif true < STARTING_MWH and abs(dev - true) > 2000:
                    problems.append(
                        "seq %d Q%d: device %d, truth %.0f" % (r.seq, i + 1, dev, true)
                    )
    # Conservation over the whole run (registers billed, nothing reset): exact to a count,
    # against the truth, or with a CT fault against what the meter itself counted.
    if scenario.exact_total and scenario.billing == "registers" and not scenario.quiet:
        t_start = meter_span(sim, records[0], frames, epoch0)[0]
        t_end = meter_span(sim, records[-1], frames, epoch0)[1]
        if any(f[1] in CT_FAULTS for f in scenario.faults):
            reference = "metered"
            e0, e1 = sim.metered_at.get(t_start), sim.metered_at.get(t_end)
            if e0 is None or e1 is None:
                problems.append("no metered counters at %d or %d ms" % (t_start, t_end))
                e0 = e1 = meter.truth_at(t_start).vector
        else:
            reference = "truth"
            e0, e1 = meter.truth_at(t_start).vector, meter.truth_at(t_end).vector
        for field_, label in (("a_plus", "A+"), ("a_minus", "A-")):
            counted = sum(getattr(r, field_) for r in records)
            true = (getattr(e1, field_) - getattr(e0, field_)) / UJ_PER_MWH
            if abs(counted - true) >= 2000:
                problems.append("total %s %d mWh, %s %.0f mWh" % (label, counted, reference, true))
    if scenario.billing == "pulses":
        t_start = meter_span(sim, records[0], frames, epoch0)[0]
        t_end = meter_span(sim, records[-1], frames, epoch0)[1]
        for ch, field_ in (("import", "pulses_import"), ("export", "pulses_export")):
            started = pulse_meter.s0[ch].pulses_started
            true = started(t_end) - started(t_start)
            counted = sum(getattr(r, field_) for r in records)
            if counted != true:
                problems.append("total %s pulses %d, truth %d" % (ch, counted, true))
    # Flags: each expected one inside its window, none outside; no unexpected flag.
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
    result.worst_error_pct = round(worst, 4)
    result.passed = not problems
    return result


def run_suite(names="all", work_dir=None, deploy_with_mpremote=False):
    """Run the selected scenarios; returns their Results."""
    from host.conformance.scenarios import select

    work = Path(work_dir or tempfile.mkdtemp(prefix="netmeter-conformance-"))
    return [run_scenario(s, work / s.name, deploy_with_mpremote) for s in select(names)]


# --- a real board: the host plays the meter on a USB RS-485 adapter, in real time ----------

HARDWARE_FAULTS = WIRE_FAULTS + CT_FAULTS + ("reset_counters", "rollover", "stick_export")


class HardwareError(RuntimeError):
    """A scenario cannot run on this bench as set up; str() is one line for a person."""


class DeviceRun:
    """What check() needs of a run on a real board: the meter that served it."""

    pulse_meter = None

    def __init__(self, meter, server):
        self.meter = meter
        self.server = server
        self.metered_at = {}


def hardware_config(scenario, pulses=False):
    """The board config a scenario needs on the bench. Without a pulse feeder (pulses=False)
    the host cannot drive the board's S0 inputs, so pulses are left out of the sources and a
    scenario about pulses is refused; with one, S0 edges are sent ahead of time, so a CT
    fault may not change the pulses (only an upstream pulse meter's can be fed)."""
    faults = {f[1] for f in scenario.faults}
    about_pulses = scenario.billing == "pulses" or scenario.bounce or "drop_pulses" in faults
    if not pulses and (about_pulses or scenario.separate_pulse_meter):
        raise HardwareError(
            "scenario %s is about S0 pulses, which the host cannot send to a real board "
            "without a pulse feeder (--pulse-port; see README, Conformance on real hardware)"
            % scenario.name
        )
    if pulses and faults & set(CT_FAULTS) and not scenario.separate_pulse_meter:
        raise HardwareError(
            "scenario %s sets a CT fault on the meter whose S0 pulses the feeder was sent "
            "ahead of time; only the simulated board can do it" % scenario.name
        )
    allowed = set(HARDWARE_FAULTS) | ({"drop_pulses"} if pulses else set())
    unsupported = sorted(faults - allowed)
    if unsupported:
        raise HardwareError(
            "scenario %s needs %s, which only the simulated board can do"
            % (scenario.name, ", ".join(unsupported))
        )
    cfg = scenario.config()
    if not pulses:
        cfg["netting"]["sources"] = [s for s in cfg["netting"]["sources"] if s != "pulses"]
    return cfg


def _differences(want, have, prefix=""):
    out = []
    for name, value in want.items():
        there = have.get(name) if isinstance(have, dict) else None
        if isinstance(value, dict):
            out += _differences(value, there or {}, prefix + name + ".")
        elif there != value:
            out.append("%s%s = %r (scenario: %r)" % (prefix, name, there, value))
    return out


def run_on_device(
    scenario, link, meter_port, map_name="generic", speed=1.0, say=None, feeder=None
):
    """Run one scenario against a real board: the simulated meter's Modbus server on the
    serial port meter_port (a USB RS-485 adapter wired to the board's transceiver) follows
    the wall clock; faults are switched at their times; then the board's records of the
    span come back over the link and are checked like the simulator's. The first interval
    is a warm-up (the board met this meter mid-interval) and is not checked.

    link is an open host.link.Link to the board (with its key, to set its clock). feeder, a
    host.conformance.pulsefeed.FeederLink to a running pulse feeder, brings the meter's S0
    pulses to the board's inputs in real time."""
    say = say or (lambda text: None)
    want = hardware_config(scenario, pulses=feeder is not None)
    if feeder is not None and speed != 1.0:
        raise HardwareError("S0 pulses are fed in real time only (speed 1, not %g)" % speed)
    want.pop("timeout_ms", None), want.pop("retries", None)
    have = link.get_config()
    wrong = _differences({k: v for k, v in want.items() if k != "rs485"}, have)
    if wrong:
        raise HardwareError(
            "the board is not set up for scenario %s: %s; push the scenario's config "
            "(host config push) and reset the board" % (scenario.name, "; ".join(wrong[:3]))
        )
    baud = (have.get("rs485") or {}).get("baud", 9600)
    meter = build_meter(scenario)
    meter.advance_to(scenario.start_ms)
    server = MeterServer(meter, map_name, baudrate=baud, port=meter_port)
    server.start()
    run = DeviceRun(meter, server)
    stream = None
    if feeder is not None:
        from host.conformance.pulsefeed import PulseStream

        # The pulses come from a twin of the meter (or the upstream meter of the scenario),
        # run ahead of the wall clock so that the feeder has each edge before its time.
        run.pulse_meter = build_meter(scenario)
        run.pulse_meter.advance_to(scenario.start_ms)
        drops = [(f[0], f[2]) for f in scenario.faults if f[1] == "drop_pulses"]
        stream = PulseStream(feeder, run.pulse_meter, drops=drops)
    started = time.monotonic()
    try:
        from_seq = link.info().get("next_seq") or 0
        now_ms = time.time_ns() // 1_000_000
        if link.key is not None:
            link.set_time(now_ms)
        epoch0 = now_ms - scenario.start_ms  # device time of meter time 0
        meter.follow_wall_clock(speed)
        if stream is not None:
            stream.start(meter)
        # Lost pulses are the stream's to apply, by edge time (it runs ahead of the meter).
        faults = sorted((f for f in scenario.faults if f[1] != "drop_pulses"), key=lambda f: f[0])
        settle = scenario.end_ms + 2 * scenario.poll_s * 1000  # the last interval closes
        while meter.sync() < settle:
            while faults and faults[0][0] <= meter.now_ms:
                say("%s: %s at meter time %d ms" % (scenario.name, faults[0][1], meter.now_ms))
                apply_fault(run, faults.pop(0), [], [])
            if stream is not None:
                stream.pump(meter.now_ms)
            time.sleep(0.1)
        records = [decode(raw) for raw in link.pull_all(from_seq)]
    finally:
        server.stop()
        if stream is not None:
            with contextlib.suppress(Exception):  # best effort: the run's own error counts
                stream.stop()
    first_checked = scenario.start_ms + scenario.interval_min * 60_000
    records = [
        r
        for r in records
        if meter_span(run, r, (), epoch0)[0] >= first_checked
        and meter_span(run, r, (), epoch0)[1] <= scenario.end_ms
    ]
    whole = (scenario.end_ms - first_checked) // (scenario.interval_min * 60_000)
    result = check(scenario, run, records, (), epoch0, n_intervals=whole)
    if stream is not None:
        result.problems += stream.problems()
        result.passed = not result.problems
    result.wall_s = time.monotonic() - started
    result.simulated_s = (scenario.end_ms - scenario.start_ms) / 1000
    return result
