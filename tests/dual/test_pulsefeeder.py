# The S0 pulse feeder's core (feeder/pulsefeeder.py) on both runtimes: edges come out at
# their times and in order, bad lines are answered and lose nothing, a full queue refuses,
# and the tick clock may wrap under it.
from feeder.pulsefeeder import Feeder

PERIOD = 1 << 30  # MicroPython's ticks_ms period
HALF = PERIOD >> 1


class Clock:
    """A tick clock the test moves by hand; t is unbounded, ticks() wraps like ticks_ms."""

    def __init__(self, t=0):
        self.t = t

    def ticks(self):
        return self.t % PERIOD

    def diff(self, a, b):
        return ((a - b + HALF) % PERIOD) - HALF


class RecordingPin:
    """An output that records (clock time, level) of each value() call."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = []

    def value(self, level):
        self.calls.append((self.clock.t, level))


def make(size=8, t=0):
    clock = Clock(t)
    pins = [RecordingPin(clock), RecordingPin(clock)]
    feeder = Feeder(pins, clock.ticks, clock.diff, size)
    for pin in pins:
        pin.calls = []  # the outputs go low at start: not an edge of the test's
    return feeder, clock, pins


def run_until(feeder, clock, end, step=1):
    while clock.t < end:
        clock.t += step
        feeder.poll()


def test_version_and_start():
    feeder, _, pins = make(size=16)
    assert feeder.line("V") == "OK pulsefeeder 1 q=16"
    assert feeder.line("T0") == "OK"
    assert [p.calls for p in pins] == [[(0, 0)], [(0, 0)]]  # T0 sets both outputs low


def test_edges_come_out_at_their_times_and_in_order():
    feeder, clock, pins = make(t=1000)
    assert feeder.line("T0") == "OK"
    pins[0].calls, pins[1].calls = [], []
    sent = [(40, 0, 1), (90, 0, 0), (90, 1, 1), (140, 1, 0), (141, 0, 1)]
    for t, ch, level in sent:
        assert feeder.line("E %d %d %d" % (t, ch, level)) == "OK"
    run_until(feeder, clock, 1000 + 89)
    assert pins[0].calls == [(1040, 1)] and pins[1].calls == []
    run_until(feeder, clock, 1000 + 200)
    assert pins[0].calls == [(1040, 1), (1090, 0), (1141, 1)]
    assert pins[1].calls == [(1090, 1), (1140, 0)]
    assert feeder.line("S") == "S 0 5 0 200"


def test_poll_says_how_long_until_the_next_edge():
    feeder, clock, _ = make()
    feeder.line("T0")
    assert feeder.poll() is None
    feeder.line("E 25 1 1")
    clock.t = 10
    assert feeder.poll() == 15


def test_bad_lines_are_answered_and_lose_nothing():
    feeder, clock, pins = make()
    assert feeder.line("E 10 0 1") == "ERR no T0 yet"
    feeder.line("T0")
    pins[0].calls, pins[1].calls = [], []
    assert feeder.line("E 10 0 1") == "OK"
    for bad in ("E 20 0", "E x 0 1", "E 20 2 1", "E 20 0 3", "E -5 0 1", "E 20 0 1 9",
                "nonsense", "T0 now", "V 2", "E 5 1 1"):  # fmt: skip
        reply = feeder.line(bad)
        assert reply.startswith("ERR "), (bad, reply)
    assert feeder.line("") is None and feeder.line("   ") is None
    assert feeder.line("E 20 0 0") == "OK"
    run_until(feeder, clock, 30)
    assert pins[0].calls == [(10, 1), (20, 0)] and pins[1].calls == []


def test_a_full_queue_refuses_and_takes_the_edge_once_there_is_room():
    feeder, clock, pins = make(size=3)
    feeder.line("T0")
    pins[0].calls = []
    for t in (10, 20, 30):
        assert feeder.line("E %d 0 %d" % (t, t // 10 % 2)) == "OK"
    assert feeder.line("E 40 0 0") == "FULL"
    assert feeder.line("S") == "S 3 0 0 0"
    run_until(feeder, clock, 10)
    assert feeder.line("E 40 0 0") == "OK"
    run_until(feeder, clock, 50)
    assert pins[0].calls == [(10, 1), (20, 0), (30, 1), (40, 0)]


def test_a_late_edge_is_said_and_driven_at_once():
    feeder, clock, pins = make()
    feeder.line("T0")
    pins[1].calls = []
    clock.t = 100
    assert feeder.line("E 60 1 1") == "LATE 40"
    feeder.poll()
    assert pins[1].calls == [(100, 1)]
    assert feeder.line("S") == "S 0 1 1 100"


def test_ticks_wrap_under_the_queue():
    # T0 shortly before the tick counter wraps: edges after the wrap still come on time.
    start = PERIOD - 30
    feeder, clock, pins = make(t=start)
    feeder.line("T0")
    pins[0].calls = []
    for t, level in ((20, 1), (70, 0), (120, 1)):
        assert feeder.line("E %d 0 %d" % (t, level)) == "OK"
    run_until(feeder, clock, start + 200, step=7)
    assert [(t - start, level) for t, level in pins[0].calls] == [(21, 1), (70, 0), (126, 1)]


def test_time_since_start_runs_past_the_tick_period():
    # A run longer than ticks_ms's period (12.4 days): polled every minute, the feeder's own
    # time keeps counting, so an edge queued for 13 days after T0 comes out then.
    feeder, clock, pins = make()
    feeder.line("T0")
    pins[1].calls = []
    day = 86_400_000
    assert feeder.line("E %d 1 1" % (13 * day)) == "OK"
    run_until(feeder, clock, 13 * day - 60_000, step=60_000)
    assert pins[1].calls == []
    run_until(feeder, clock, 13 * day + 60_000, step=60_000)
    assert pins[1].calls == [(13 * day, 1)]


def test_x_empties_the_queue_and_sets_the_outputs_low():
    feeder, clock, pins = make()
    feeder.line("T0")
    feeder.line("E 5 0 1")
    run_until(feeder, clock, 5)
    feeder.line("E 50 0 0")
    pins[0].calls = []
    assert feeder.line("X") == "OK"
    run_until(feeder, clock, 100)
    assert pins[0].calls == [(5, 0)]
    assert feeder.line("S") == "S 0 1 0 100"
