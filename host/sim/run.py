"""A whole simulated installation: meter, its Modbus server, the board, in lockstep.

The simulator owns the clock. For each step it moves the meter to t, hands the board the
S0 edges up to t and tells it to run to t, then waits until the board has. A simulated day
therefore runs in seconds and repeats exactly.
"""

import time
from pathlib import Path

from host.deploy import deploy
from host.sim.board import BOARD_HEAP, BoardError, SimBoard
from host.sim.meter import SimMeter
from host.sim.modbus import MeterServer
from shared.record import SIZE, decode

DAY0_UTC_MS = 1764374400000  # 2025-11-29 00:00 UTC: meter time 0 is this instant
# Where a board without a battery-backed clock finds its clock after a power cut: rp2 starts
# its RTC at 2021-01-01 00:00 (esp32 at 2000-01-01); the unset clock runs on from there.
UNSET_CLOCK_MS = 1609459200000


def edges_for_board(edges, epoch_ms, active_low=True):
    """The meter's contact edges as the board's input levels (pull-up: closed reads 0)."""
    out = []
    for t, channel, contact in edges:
        level = 1 - contact if active_low else contact
        out.append((epoch_ms + t, 0 if channel == "import" else 1, level))
    return out


class Simulation:
    """Start with start(); step with run(until_ms, step_ms); read records with records()."""

    def __init__(
        self,
        directory,
        config,
        meter=None,
        map_name="generic",
        epoch_ms=DAY0_UTC_MS,
        heapsize=BOARD_HEAP,
        start_ms=0,
        watchdog=False,
    ):
        self.dir = Path(directory)
        self.config = dict(config)
        self.config.setdefault("meter", {"MAP": map_name})
        self.meter = meter or SimMeter()
        self.map_name = map_name
        self.epoch_ms = epoch_ms
        self.heapsize = heapsize
        self.watchdog = watchdog  # an rp2-like watchdog enforced by SimBoard
        self.now_ms = start_ms
        self.server = None
        self.board = None
        self.outage_pulses = {"import": 0, "export": 0}  # S0 pulses while the board was off
        self.true_epoch_ms = None  # while the board's clock is unset: the epoch to go back to

    def start(self, deploy_firmware=True, deployer=None):
        """Start meter, server and board; deploy_firmware: put the firmware on the board with
        mpremote first, by deployer(device, board, config) if given (else host.deploy's)."""
        self.meter.advance_to(self.now_ms)
        baud = self.config.get("rs485", {}).get("baud", 9600)
        self.server = MeterServer(self.meter, self.map_name, baudrate=baud).start()
        self.board = SimBoard(self.dir, self.heapsize, watchdog=self.watchdog)
        self.board.write_hardware(self.server.device_path)
        self.board.start()
        if deploy_firmware:
            time.sleep(0.2)  # let the REPL come up before mpremote talks to it
            (deployer or deploy)(self.board.device, "unix_sim", self.config)
            self.board.restart()  # a reset: boot runs the deployed main.py
        self.board.wait_ready()
        self.board.set_clock(self.epoch_ms + self.now_ms)
        self.board.run_to(self.epoch_ms + self.now_ms)  # the first reading, at the start
        return self

    def step_to(self, t_ms, extra_edges=()):
        if self.step_to_cut(t_ms, extra_edges) is not None:
            raise BoardError("the board stopped at a fault point nobody armed")

    def step_to_cut(self, t_ms, extra_edges=()):
        """step_to; returns the armed fault point the firmware stopped at, if it did."""
        self.meter.advance_to(t_ms)
        edges = edges_for_board(self.meter.edges(self.now_ms, t_ms), self.epoch_ms)
        edges = sorted(edges + list(extra_edges))
        self.now_ms = t_ms
        return self.board.run_to(self.epoch_ms + t_ms, edges)

    def run(self, until_ms, step_ms):
        while self.now_ms < until_ms:
            self.step_to(min(self.now_ms + step_ms, until_ms))

    def power_cut(self, outage_ms=0, damage=None, clock_set=True):
        """Cut the board's power (SIGKILL), let outage_ms pass for the meter alone (its S0
        pulses in that time reach no one), optionally damage files as the cut would have
        (damage(board_dir)), then power up: boot, set the clock, take the first reading.

        clock_set=False: a board without a battery-backed clock; its clock comes back unset,
        reading UNSET_CLOCK_MS at boot and running on from there, until clock_known()."""
        self.board.kill()
        if damage is not None:
            damage(self.dir)
        start = self.now_ms
        self.now_ms += outage_ms
        self.meter.advance_to(self.now_ms)
        for channel in ("import", "export"):
            started = self.meter.s0[channel].pulses_started
            self.outage_pulses[channel] += started(self.now_ms) - started(start)
        self.board.restart()
        self.board.wait_ready()
        if clock_set:
            self.board.set_clock(self.epoch_ms + self.now_ms)
        else:
            if self.true_epoch_ms is None:
                self.true_epoch_ms = self.epoch_ms
            self.epoch_ms = UNSET_CLOCK_MS - self.now_ms  # the board's own time base now
        self.board.run_to(self.epoch_ms + self.now_ms)

    def clock_known(self):
        """The board's clock is set again (by SET_TIME, an RTC or NTP, which the caller
        does): the board's time is the true time again. Returns it (Unix ms)."""
        if self.true_epoch_ms is not None:
            self.epoch_ms, self.true_epoch_ms = self.true_epoch_ms, None
        return self.epoch_ms + self.now_ms

    def run_realtime(self, seconds, step_ms=100):
        """Real time: the same parts on the wall clock; the meter follows it too."""
        self.meter.follow_wall_clock()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            target = self.meter.sync()
            if target > self.now_ms:
                self.step_to(target)
            time.sleep(step_ms / 1000)

    def records(self):
        """Every whole record in the board's store, in seq order (segment files, by name)."""
        out = []
        for segment in sorted((self.dir / "records").glob("*.seg")):
            data = segment.read_bytes()
            out += [decode(data[i : i + SIZE]) for i in range(0, len(data) - SIZE + 1, SIZE)]
        return out

    def meter_time(self, record):
        """(t0, t1) of a record in meter milliseconds."""
        t0 = record.start_utc * 1000 - self.epoch_ms
        return t0, t0 + record.duration_s * 1000

    def heap(self):
        """(largest live heap seen after a collect, heap size) as the firmware reports it."""
        self.board.send("M")
        _, live, total = self.board.wait_line("M ").split()
        return int(live), int(total)

    def stop(self):
        if self.board is not None:
            self.board.close()
        if self.server is not None:
            self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
