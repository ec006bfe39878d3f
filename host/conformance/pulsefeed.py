"""The host's side of the S0 pulse feeder (feeder/pulsefeeder.py, on a second board whose
outputs drive the netmeter board's S0 inputs through optocouplers): start it on its USB
serial port, and stream a meter's S0 edges to it ahead of time while a scenario runs in real
time. The line protocol is described at the top of feeder/pulsefeeder.py."""

import time
from collections import deque
from pathlib import Path

from host.sim.pulses import PulseLoss

FEEDER_DIR = Path(__file__).resolve().parents[2] / "feeder"
CHANNELS = {"import": 0, "export": 1}
LEAD_MS = 1000  # edges are sent this far ahead of the meter's time
LATE_OK_MS = 5  # an edge the feeder drove later than this may have shortened a pulse
START_TIMEOUT_S = 10.0


class FeederError(RuntimeError):
    """The pulse feeder is missing, silent or said no; str() is one line for a person."""


class FeederLink:
    """Commands to a running feeder over a serial port (pyserial or alike), one reply each."""

    def __init__(self, port, name="the pulse feeder"):
        self.port = port
        self.name = name

    @classmethod
    def open(cls, path, timeout=2.0):
        import serial

        return cls(serial.Serial(path, 115200, timeout=timeout), "the pulse feeder on %s" % path)

    def close(self):
        self.port.close()

    def _line(self):
        raw = self.port.readline()
        if not raw.endswith(b"\n"):
            raise FeederError("%s did not answer (is it running? see README)" % self.name)
        return raw.decode("ascii", "replace").strip()

    def ask(self, command):
        self.port.write(command.encode("ascii") + b"\n")
        return self._line()

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Skip what the board prints until the feeder's READY line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.port.readline()
            if raw.decode("ascii", "replace").strip().startswith("READY pulsefeeder"):
                return
        raise FeederError("%s did not start within %.0f s" % (self.name, timeout))

    def hello(self):
        """The feeder's queue size; FeederError if something else answers."""
        self.port.reset_input_buffer()
        reply = self.ask("V")
        if not reply.startswith("OK pulsefeeder "):
            raise FeederError("%s answered %r, not the pulse feeder" % (self.name, reply[:60]))
        return int(reply.rsplit("q=", 1)[1])


def start_on_board(path, deploy=True):
    """Copy the feeder (and its main.py) to the board at path with mpremote, soft-reset the
    board so that main.py starts it, and return a FeederLink to it."""
    if deploy:
        from host.deploy import mpremote

        mpremote(
            path,
            "fs", "cp", str(FEEDER_DIR / "pulsefeeder.py"), ":pulsefeeder.py",
            "+", "fs", "cp", str(FEEDER_DIR / "main.py"), ":main.py",
        )  # fmt: skip
    link = FeederLink.open(path)
    try:
        # Ctrl-C stops whatever runs (a feeder started at boot too), Ctrl-B leaves a raw REPL,
        # Ctrl-D soft-resets: main.py runs the feeder; the USB serial port stays open.
        link.port.write(b"\r\x03\x03")
        time.sleep(0.2)
        link.port.write(b"\x02")
        time.sleep(0.2)
        link.port.reset_input_buffer()
        link.port.write(b"\x04")
        link.wait_ready()
        link.hello()
    except Exception:
        link.close()
        raise
    return link


class PulseStream:
    """Streams the S0 edges of `source` to the feeder, lead_ms ahead of the meter's time.

    source is a SimMeter of its own, not on the wall clock (a twin of the meter that serves
    the registers, or the upstream meter of a scenario with one): it is advanced ahead of
    the wall clock, which the meter serving Modbus reads must not be. drops are
    (meter t_ms, every) settings of a harness that loses every n-th pulse from t_ms on.
    Meter time t is sent as t - m0, with m0 the meter's time at the feeder's T0."""

    def __init__(self, link, source, lead_ms=LEAD_MS, drops=()):
        self.link = link
        self.source = source
        self.lead_ms = lead_ms
        self.loss = PulseLoss()
        self.drops = sorted(drops)
        self.pending = deque()
        self.sent = []  # (t_ms, channel, level) the feeder took, in meter time
        self.late = []  # (t_ms, ms late) of edges that reached the feeder after their time
        self.refused = 0  # FULL replies (each edge is sent again later)
        self.m0 = None
        self.through_ms = None

    def start(self, meter):
        """T0 on the feeder at the meter's current time (the midpoint of the round trip)."""
        before = meter.sync()
        reply = self.link.ask("T0")
        after = meter.sync()
        if reply != "OK":
            raise FeederError("%s refused T0: %s" % (self.link.name, reply))
        self.m0 = (before + after) // 2
        self.through_ms = self.m0
        if self.source.now_ms < self.m0:
            self.source.advance_to(self.m0)

    def pump(self, now_ms):
        """Send the edges up to meter time now_ms + lead_ms that the feeder has room for."""
        target = now_ms + self.lead_ms
        if target > self.through_ms:
            if target > self.source.now_ms:
                self.source.advance_to(target)
            self.pending.extend(self._lose(self.source.edges(self.through_ms, target)))
            self.through_ms = target
        while self.pending:
            t, channel, level = self.pending[0]
            reply = self.link.ask("E %d %d %d" % (t - self.m0, CHANNELS[channel], level))
            if reply == "FULL":
                self.refused += 1
                return
            if reply.startswith("LATE "):
                self.late.append((t, int(reply.split()[1])))
            elif reply != "OK":
                raise FeederError("%s refused an edge: %s" % (self.link.name, reply))
            self.sent.append(self.pending.popleft())

    def _lose(self, edges):
        out = []
        for edge in edges:
            while self.drops and self.drops[0][0] <= edge[0]:
                self.loss.every = self.drops.pop(0)[1]
            out += self.loss.filter([edge])
        return out

    def status(self):
        """(queued, played, late, feeder ms since T0) as the feeder counts them."""
        reply = self.link.ask("S")
        words = reply.split()
        if len(words) != 5 or words[0] != "S":
            raise FeederError("%s answered S with %r" % (self.link.name, reply))
        return tuple(int(w) for w in words[1:])

    def stop(self):
        """Empty the feeder's queue and set its outputs low (contacts open)."""
        self.link.ask("X")

    def problems(self):
        worst = max((ms for _, ms in self.late), default=0)
        if worst <= LATE_OK_MS:
            return []
        return [
            "%d S0 edges reached the pulse feeder late (worst %d ms): their pulses may have "
            "been short" % (len(self.late), worst)
        ]
