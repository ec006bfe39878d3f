"""Where a real board's clock stands against the host's, measured over the link.

A board reads its clock somewhere between the host sending a request and the host receiving
the reply, so a reading b between host times s and r bounds the offset (board - host) to
[b - r, b - s]: NTP's rule. The sample with the shortest round trip bounds it tightest; its
midpoint is the estimate and half its round trip (plus a millisecond of clock resolution on
each side) the uncertainty. estimate_offset() is that rule alone; measure_offset() takes the
samples (INFO's clock_ms, and SET_TIME, whose value is the board's clock as it applies it)."""

import time
from dataclasses import dataclass

RESOLUTION_MS = 1  # both clocks count whole milliseconds
SAMPLES = 8


@dataclass(frozen=True)
class ClockOffset:
    """The board's clock minus the host's, in ms, and how far the truth can be from it."""

    offset_ms: float
    uncertainty_ms: float
    rtt_ms: int = 0  # the best sample's round trip
    samples: int = 1

    def as_dict(self):
        return {
            "offset_ms": round(self.offset_ms, 1),
            "uncertainty_ms": round(self.uncertainty_ms, 1),
            "rtt_ms": self.rtt_ms,
            "samples": self.samples,
        }


class HostClock:
    """The host's wall clock in Unix ms, which the simulated meter follows. speed > 1 runs
    it (and the meter) faster from origin_ms on, as the tests' free-running simulated board
    runs its own (boards/unix_sim.py, FreeClock: the same formula)."""

    def __init__(self, speed=1, origin_ms=0):
        self.speed = speed
        self.origin_ms = origin_ms

    def now_ms(self):
        return (
            self.origin_ms
            + (time.time_ns() - self.origin_ms * 1_000_000) * self.speed // 1_000_000
        )


def estimate_offset(samples, resolution_ms=RESOLUTION_MS):
    """ClockOffset from [(host sent ms, board ms, host received ms)]: the sample with the
    smallest round trip, its midpoint, +- half its round trip plus the clocks' resolution."""
    if not samples:
        raise ValueError("no clock samples")
    for sent, _, received in samples:
        if received < sent:
            raise ValueError("a reply received before its request was sent: %r" % (samples,))
    sent, board, received = min(samples, key=lambda s: s[2] - s[0])
    rtt = received - sent
    return ClockOffset(board - (sent + received) / 2, rtt / 2 + resolution_ms, rtt, len(samples))


def over_run(start, end):
    """One ClockOffset for a whole run from the ones measured at its start and its end: the
    mean, widened by half the drift between them (a straight line between two points is
    never further than that from their mean) and by rounding to whole ms."""
    drift = abs(end.offset_ms - start.offset_ms)
    return ClockOffset(
        (start.offset_ms + end.offset_ms) / 2,
        max(start.uncertainty_ms, end.uncertainty_ms) + drift / 2 + 0.5,
        min(start.rtt_ms, end.rtt_ms),
        start.samples + end.samples,
    )


def sample_info(link, clock):
    """One (sent, board, received) sample from INFO's clock_ms."""
    sent = clock.now_ms()
    board = link.info()["clock_ms"]
    return sent, board, clock.now_ms()


def set_and_sample(link, clock):
    """SET_TIME the board to the host's clock; the value sent is what the board's clock
    reads as it applies it, so the exchange is a sample too. Returns (sample, step ms)."""
    sent = clock.now_ms()
    step = link.set_time(sent)
    return (sent, sent, clock.now_ms()), step


def measure_offset(link, clock, n=SAMPLES, first=()):
    """ClockOffset from n INFO exchanges (and any samples in first)."""
    samples = list(first)
    for _ in range(n):
        samples.append(sample_info(link, clock))
    return estimate_offset(samples)
