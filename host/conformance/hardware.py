"""Conformance on a real board: the host plays the meter (the simulated meter's Modbus
server on a USB RS-485 adapter) in real time, optionally with a pulse feeder board driving
the board's S0 inputs; the records come back over the link and are checked by checks.py."""

import contextlib
import time

from host.conformance.checks import (
    CT_FAULTS,
    REGISTER_FAULTS,
    WIRE_FAULTS,
    BoundaryAllowance,
    ReadLog,
    check,
    meter_span,
)
from host.conformance.clock import HostClock, measure_offset, over_run, set_and_sample
from host.conformance.report import describe_offset
from host.conformance.simulated import apply_fault, build_meter
from host.sim.modbus import MeterServer
from shared.record import decode

HARDWARE_FAULTS = WIRE_FAULTS + CT_FAULTS + REGISTER_FAULTS


class HardwareError(RuntimeError):
    """A scenario cannot run on this bench as set up; str() is one line for a person."""


class DeviceRun:
    """A run on a real board: the meter that served it, where meter time stood on the host's
    clock (epoch_ms: the host's Unix ms at meter time 0), the board's clock offset from the
    host measured at its start and end, and the records it pulled."""

    pulse_meter = None

    def __init__(self, meter, server):
        self.meter = meter
        self.server = server
        self.metered_at = {}
        self.epoch_ms = None
        self.offset_start = self.offset_end = None
        self.records = []
        self.reads = []  # meter times the meter answered a read at (ReadLog)
        self.problems = []
        self.wall_s = 0.0


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


def run_on_device(scenario, link, meter_port, map_name="generic", say=None, feeder=None,
                  clock=None):  # fmt: skip
    """Run one scenario against a real board (run_device) and check its records
    (check_device_run)."""
    run = run_device(scenario, link, meter_port, map_name, say, feeder, clock)
    return check_device_run(scenario, run)


# One sequence of steps against a real board (measure, align, run, measure again, pull),
# each needing the last's state: cut into a class of steps when hardware mode is next touched.
def run_device(scenario, link, meter_port, map_name="generic", say=None, feeder=None,  # noqa: PLR0915
               clock=None):  # fmt: skip
    """Run one scenario against a real board: the simulated meter's Modbus server on the
    serial port meter_port (a USB RS-485 adapter wired to the board's transceiver) follows
    the host's clock; faults are switched at their times; then the board's records of the
    span come back over the link. Returns the DeviceRun.

    The board's clock is set to the host's (SET_TIME, when the link has the board's key)
    and measured against it (clock.py) at the start and at the end; the meter starts at the
    phase of the board's current interval, so that the board's interval boundaries fall on
    the meter's (both in host time). The first interval is a warm-up (the board met this
    meter mid-interval) and is not checked.

    link is an open host.link.Link to the board. feeder, a
    host.conformance.pulsefeed.FeederLink to a running pulse feeder, brings the meter's S0
    pulses to the board's inputs in real time. clock is the host's clock (clock.HostClock;
    the tests run it, the meter and a simulated board faster)."""
    say = say or (lambda text: None)
    clock = clock or HostClock()
    want = hardware_config(scenario, pulses=feeder is not None)
    if feeder is not None and clock.speed != 1:
        raise HardwareError("S0 pulses are fed in real time only (speed 1, not %g)" % clock.speed)
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
    log = ReadLog(meter)
    server = MeterServer(log, map_name, baudrate=baud, port=meter_port)
    server.start()
    run = DeviceRun(meter, server)
    run.reads = log.reads
    stream = None
    interval_ms = scenario.interval_min * 60_000
    started = time.monotonic()
    try:
        from_seq = link.info().get("next_seq") or 0
        first = []
        if link.key is not None:
            sample, step = set_and_sample(link, clock)
            first.append(sample)
            say("%s: board clock set, stepped by %+d ms" % (scenario.name, step))
            if step < 0:
                # Set back, the board holds its open interval (CLOCK_ADJUSTED) until its
                # clock is past the old time again: that is warm-up too.
                say("%s: waiting %.0f s for the board's clock to pass its old time"
                    % (scenario.name, -step / 1000 / clock.speed))  # fmt: skip
                time.sleep(-step / 1000 / clock.speed)
        run.offset_start = measure_offset(link, clock, first=first)
        say("%s: board clock %s" % (scenario.name, describe_offset(run.offset_start.as_dict())))
        # The meter jumps to the phase of the board's current interval: the meter's interval
        # boundaries then stand where the board's stand (in host time). The jump is the
        # warm-up interval's: with less than two polls of it left, the next one is taken.
        board_ms = clock.now_ms() + round(run.offset_start.offset_ms)
        if interval_ms - board_ms % interval_ms < 2 * scenario.poll_s * 1000:
            time.sleep(
                (interval_ms - board_ms % interval_ms + 100 * clock.speed) / 1000 / clock.speed
            )
            board_ms = clock.now_ms() + round(run.offset_start.offset_ms)
        meter.advance_to(scenario.start_ms + board_ms % interval_ms)
        meter.follow_wall_clock(clock.speed)
        run.epoch_ms = clock.now_ms() - meter.now_ms
        if feeder is not None:
            from host.conformance.pulsefeed import PulseStream

            # The pulses come from a twin of the meter (or the upstream meter of the
            # scenario), run ahead of the wall clock so that the feeder has each edge
            # before its time.
            run.pulse_meter = build_meter(scenario)
            run.pulse_meter.advance_to(meter.now_ms)
            drops = [(f[0], f[2]) for f in scenario.faults if f[1] == "drop_pulses"]
            stream = PulseStream(feeder, run.pulse_meter, drops=drops)
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
        run.offset_end = measure_offset(link, clock)
        run.records = [decode(raw) for raw in link.pull_all(from_seq)]
    finally:
        server.stop()
        if stream is not None:
            with contextlib.suppress(Exception):  # best effort: the run's own error counts
                stream.stop()
    if stream is not None:
        run.problems += stream.problems()
    run.wall_s = time.monotonic() - started
    return run


def check_device_run(scenario, run, offset=None):
    """Check a DeviceRun's records against its meter's truth, cut at the board's interval
    boundaries in host time (the board's times less its clock offset). offset: the
    ClockOffset to use, by default the one measured over the run (a test forces others).
    Each boundary may be off by the offset's uncertainty times the power around it."""
    offset = offset or over_run(run.offset_start, run.offset_end)
    epoch0 = run.epoch_ms + round(offset.offset_ms)  # board time of meter time 0
    interval_ms = scenario.interval_min * 60_000
    first_checked = scenario.start_ms + interval_ms
    # Boundaries are whole intervals of board time: a record is in the checked span by the
    # middle of its meter span (a wrong offset moves its ends off the meter's boundaries),
    # and the truth is known up to where the meter stopped.
    spans = [(r, meter_span(run, r, (), epoch0)) for r in run.records]
    records = [
        r
        for r, (t0, t1) in spans
        if first_checked <= (t0 + t1) / 2 <= scenario.end_ms and t1 <= run.meter.now_ms
    ]
    whole = (scenario.end_ms - first_checked) // interval_ms
    boundary = BoundaryAllowance(scenario, run.meter, run.reads, offset.uncertainty_ms)
    result = check(scenario, run, records, (), epoch0, n_intervals=whole, boundary=boundary)
    result.clock_offset = dict(offset.as_dict(), read_lag_ms=boundary.worst_lag_ms)
    if run.problems:
        result.problems += run.problems
        result.passed = False
    result.wall_s = run.wall_s
    result.simulated_s = (scenario.end_ms - scenario.start_ms) / 1000
    return result
