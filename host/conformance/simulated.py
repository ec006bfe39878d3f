"""Run a conformance scenario on the simulated board in lockstep virtual time (or on the
wall clock), with the scenario's faults switched at their times; checks.py checks the
records against the simulated meter's truth."""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from host.conformance.checks import (
    CT_FAULTS,
    REGISTER_FAULTS,
    WIRE_FAULTS,
    BoundaryAllowance,
    ReadLog,
    check,
)
from host.deploy import board_arch, stage
from host.link import Link
from host.sim.meter import SimMeter
from host.sim.pulses import Bounce, PulseLoss, S0Config
from host.sim.run import Simulation, edges_for_board
from shared.record import decode

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
    config = _lay_out(scenario, Path(directory), deploy_with_mpremote)
    meter = build_meter(scenario)
    # On the wall clock the meter answers a poll a little after the board stamped it: the
    # meter notes when (ReadLog), and each boundary is allowed that (BoundaryAllowance).
    log = ReadLog(meter) if realtime else meter
    sim = ScenarioSim(Path(directory), config, log, start_ms=scenario.start_ms)
    if scenario.separate_pulse_meter:
        sim.pulse_meter = build_meter(scenario)
    if any(f[1] in ("set_time", "time_known") for f in scenario.faults):
        sim.link_key = os.urandom(32)  # installed as `host deploy` does: link.key, hex
        (Path(directory) / "link.key").write_text(sim.link_key.hex() + "\n")
    started = time.monotonic()
    frames = []  # (first seq, ms to subtract from device time): clock steps
    sim.start(deploy_firmware=deploy_with_mpremote)
    sim.metered_at[sim.now_ms] = meter.metered()
    try:
        records = _drive(scenario, sim, meter, realtime, frames)
        unused = sim.server.faults.active()  # counted reply faults the meter never sent
    finally:
        sim.stop()
    boundary = BoundaryAllowance(scenario, meter, log.reads, 0) if realtime else None
    result = check(scenario, sim, records, frames, boundary=boundary)
    if unused:
        result.problems.append("reply faults never sent: %s" % ", ".join(unused))
        result.passed = False
    result.wall_s = time.monotonic() - started
    result.simulated_s = (scenario.end_ms - scenario.start_ms) / 1000
    return result


def _lay_out(scenario, directory, deploy_with_mpremote):
    """A fresh board directory with the staged firmware and the scenario's config (unless
    mpremote deploys it); returns the config."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    config = scenario.config()
    if not deploy_with_mpremote:
        fw = staged_firmware()
        shutil.copytree(fw / "lib", directory / "lib")
        shutil.copy(fw / "main.py", directory / "main.py")
        (directory / "config.json").write_text(json.dumps(dict(config, board="unix_sim")))
    return config


def _drive(scenario, sim, meter, realtime, frames):
    """Run the scenario's span with its faults at their times; the board's records, read
    from its flash (lockstep) or pulled over the link (real time)."""
    faults = sorted(scenario.faults, key=lambda f: f[0])
    outages = []
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
            return [decode(raw) for raw in link.pull_all(0)]
    return sim.records()


def apply_fault(sim, fault, frames, outages):
    _, name, *args = fault
    if name in WIRE_FAULTS:
        getattr(sim.server.faults, name)(*args)
    elif name in REGISTER_FAULTS:
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
        # ("power_cut", outage_ms) or ("power_cut", outage_ms, "clock_unset"): a board
        # without a battery-backed clock boots with its clock unset.
        outages.append((sim.now_ms, args[0]))
        sim.power_cut(args[0], clock_set="clock_unset" not in args)
    elif name == "time_known":
        # The host's first contact after the cut: SET_TIME over the link to the true time.
        with Link.open(sim.board.device, key=sim.link_key, timeout=5.0) as link:
            link.set_time(sim.clock_known())
    else:
        raise ValueError("unknown fault %r" % name)


def run_suite(names="all", work_dir=None, deploy_with_mpremote=False):
    """Run the selected scenarios; returns their Results."""
    from host.conformance.scenarios import select

    work = Path(work_dir or tempfile.mkdtemp(prefix="netmeter-conformance-"))
    return [run_scenario(s, work / s.name, deploy_with_mpremote) for s in select(names)]
