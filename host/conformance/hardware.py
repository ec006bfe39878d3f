"""Conformance on a real board: the host plays the meter (the simulated meter's Modbus
server on a USB RS-485 adapter) in real time, optionally with a pulse feeder board driving
the board's S0 inputs; the records come back over the link and are checked by checks.py."""

import contextlib
import time

from host.conformance.checks import CT_FAULTS, REGISTER_FAULTS, WIRE_FAULTS, check, meter_span
from host.conformance.simulated import apply_fault, build_meter
from host.sim.modbus import MeterServer
from shared.record import decode

HARDWARE_FAULTS = WIRE_FAULTS + CT_FAULTS + REGISTER_FAULTS


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


# Cut up when the hardware-mode offset work lands (another change is rewriting it now).
def run_on_device(  # noqa: PLR0915
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
