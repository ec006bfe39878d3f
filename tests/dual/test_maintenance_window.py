# The maintenance window's core: fed while the window lasts, then never again; extend and
# end; the timer is stopped once the window is over (firmware/netmeter/maintenance.py).
from netmeter.maintenance import TICK_MS, WINDOW_MS, Maintenance


class Feeds:
    def __init__(self):
        self.n = 0

    def feed(self):
        self.n += 1


class Clock:
    def __init__(self):
        self.t = 0

    def ticks_ms(self):
        return self.t & 0x3FFFFFFF

    def ticks_diff(self, a, b):
        d = (a - b) & 0x3FFFFFFF
        return d - 0x40000000 if d & 0x20000000 else d


class Timer:
    def __init__(self):
        self.running = True

    def deinit(self):
        self.running = False


def window(clock, feeds, ms=WINDOW_MS):
    m = Maintenance(feeds, ms, clock.ticks_ms, clock.ticks_diff)
    m.timer = Timer()
    return m


def run_for(m, clock, ms):
    for _ in range(ms // TICK_MS):
        clock.t += TICK_MS
        m.tick(m.timer)


def test_the_window_feeds_until_its_end_then_stops_the_timer_for_good():
    clock, feeds = Clock(), Feeds()
    m = window(clock, feeds)
    timer = m.timer
    run_for(m, clock, WINDOW_MS - TICK_MS)
    assert feeds.n == WINDOW_MS // TICK_MS - 1 and timer.running and m.left_s() == 0
    run_for(m, clock, 10 * TICK_MS)
    assert feeds.n == WINDOW_MS // TICK_MS - 1  # not one feed past the window
    assert not timer.running and m.timer is None


def test_extend_gives_more_time_from_now_and_end_stops_feeding_at_once():
    clock, feeds = Clock(), Feeds()
    m = window(clock, feeds, 10_000)
    run_for(m, clock, 8_000)
    assert m.extend(60) == 60
    run_for(m, clock, 50_000)
    assert m.left_s() == 10 and m.timer is not None
    fed = feeds.n
    m.end()
    run_for(m, clock, 2 * TICK_MS)
    assert feeds.n == fed and m.timer is None


def test_the_window_survives_the_tick_counter_wrapping():
    clock, feeds = Clock(), Feeds()
    clock.t = 0x3FFFFFFF - 3 * TICK_MS
    m = window(clock, feeds, 10_000)
    run_for(m, clock, 6 * TICK_MS)
    assert feeds.n == 6 and m.left_ms() == 10_000 - 6 * TICK_MS
