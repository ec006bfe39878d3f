"""The host streams a meter's S0 edges to the real pulse feeder program (feeder/pulsefeeder.py)
running in the MicroPython unix VM on a pty, in real time; the feeder's stand-in outputs
write each change of level with its time, and those must be the meter's edges, complete, in
order and on time."""

import os
import subprocess
import time

import pytest

from host.conformance.pulsefeed import FEEDER_DIR, FeederError, FeederLink, PulseStream
from host.mpy import micropython_exe
from host.sim.meter import SimMeter
from host.sim.pulses import Bounce, S0Config
from host.sim.site import MINUTE_MS, SiteConfig

# Morning on a PV household, phases netted arithmetically: import and export pulses at once,
# at 10000 imp/kWh about 16 edges a second, a third of the transitions bouncing (3 ms).
SITE = SiteConfig(seed=7)
START_MS = 9 * 60 * MINUTE_MS + 30 * MINUTE_MS
S0 = S0Config(imp_per_kwh=10000, bounce=Bounce(max_pairs=2, spacing_ms=3, probability=0.33))
RUN_S = 2.5
LEAD_MS = 1000  # as the runner: a host stalled for less than this loses no edge
QUEUE = 12  # small, so that the host meets FULL and sends again
EARLY_MS = 0  # the feeder never drives an edge before its time
# How late a stand-in output may change: the VM process shares a loaded CI machine (a board's
# loop is far tighter); order and completeness are checked exactly, whatever the slack.
LATE_MS = 100


def meter():
    m = SimMeter(SITE, s0=S0, summation="arithmetic")
    m.advance_to(START_MS)
    return m


class Feeder:
    """feeder/pulsefeeder.py in the MicroPython VM, its stdin/stdout the pty's master end;
    the host opens the slave end by path, as it opens a board's /dev/ttyACM0."""

    def __init__(self, queue=QUEUE):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.proc = subprocess.Popen(
            [micropython_exe(), str(FEEDER_DIR / "pulsefeeder.py"), str(queue)],
            stdin=self.master,
            stdout=self.master,
            stderr=subprocess.PIPE,
        )
        self.link = FeederLink.open(self.path, timeout=2.0)
        self.link.wait_ready(timeout=5.0)

    def finish(self):
        """Close the host's end; the feeder exits; its stand-in outputs' lines."""
        self.link.close()
        os.close(self.slave)
        try:
            _, err = self.proc.communicate(timeout=5)
        finally:
            os.close(self.master)
        pins = []
        for line in err.decode().splitlines():
            word, index, level, ms = line.split()
            assert word == "PIN", line
            pins.append((int(index), int(level), int(ms)))
        return pins


@pytest.fixture
def feeder():
    f = Feeder()
    yield f
    if f.proc.poll() is None:
        f.proc.kill()
        f.proc.wait()


def changes(edges, m0):
    """The level changes outputs starting low show for edges (meter time), in feeder time."""
    channel = {"import": 0, "export": 1}
    level = [0, 0]
    out = []
    for t, name, lv in edges:
        ch = channel[name]
        if lv != level[ch]:
            level[ch] = lv
            out.append((ch, lv, t - m0))
    return out


def test_the_feeder_drives_the_streamed_edges_complete_in_order_and_on_time(feeder):
    assert feeder.link.hello() == QUEUE
    real = meter()  # serves the registers: on the wall clock, never ahead of it
    stream = PulseStream(feeder.link, meter(), lead_ms=LEAD_MS)
    real.follow_wall_clock(1.0)
    stream.start(real)
    while real.sync() < stream.m0 + RUN_S * 1000:
        stream.pump(real.now_ms)
        time.sleep(0.02)
    end = stream.through_ms
    while stream.pending:  # what the queue refused, then let the feeder play it all
        stream.pump(real.sync() - LEAD_MS)
        time.sleep(0.02)
    time.sleep((end - real.sync()) / 1000 + 0.1)
    queued, played, late, _ = stream.status()
    pins = feeder.finish()

    assert real.sync() >= end
    truth = real.edges(stream.m0, end)  # the meter's own edges: the twin sent the same
    assert stream.sent == truth and len(truth) > 40
    names = {name for _, name, _ in truth}
    assert names == {"import", "export"}
    assert stream.refused > 0, "the queue never filled: the FULL path went untested"
    assert stream.late == [] and late == 0 and queued == 0 and played == len(truth)
    want = changes(truth, stream.m0)
    assert [(ch, lv) for ch, lv, _ in pins] == [(ch, lv) for ch, lv, _ in want]
    offsets = [got[2] - t for got, (_, _, t) in zip(pins, want, strict=True)]
    assert EARLY_MS <= min(offsets) and max(offsets) <= LATE_MS, offsets


def test_a_silent_port_is_one_line(tmp_path):
    # Nothing runs on the other end: the host says so instead of hanging or tracing back.
    master, slave = os.openpty()
    try:
        link = FeederLink.open(os.ttyname(slave), timeout=0.3)
        with pytest.raises(FeederError, match="did not answer"):
            link.hello()
        link.close()
    finally:
        os.close(master)
        os.close(slave)
