# Maintenance: the state between a Ctrl-C (mpremote, `host deploy`) and the reset that returns
# the board to service. docs/maintenance.md describes the states and the watchdog in each.
#
# A started watchdog cannot be stopped (rp2: machine.WDT, at most 8.3 s). On Ctrl-C the main
# loop ends and nothing feeds it, so the board would reset in the middle of a file transfer.
# enter() arms a periodic timer whose callback feeds the watchdog until a deadline (10
# minutes, extendable); after it, or after end(), the callback stops feeding and the watchdog
# resets the board into whatever firmware is on it then. On rp2 a machine.Timer callback is
# scheduled from the timer's alarm interrupt and runs whenever the VM handles pending events:
# between bytecodes, and while the REPL (or mpremote's raw REPL) waits for input.
import sys

from shared import port

WINDOW_MS = 600000  # 10 minutes from the Ctrl-C, or from the last extend()
TICK_MS = 500  # the timer's period: inside the shortest watchdog timeout allowed (1000 ms)
NAME = "maintenance"  # sys.modules key: `import maintenance` in the REPL gets the live state


class Maintenance:
    """The live maintenance window: left_s(), extend(seconds), end(). Registered in
    sys.modules as `maintenance`, which also keeps it (and its timer) from the GC: rp2's
    machine.Timer has a finaliser that cancels it."""

    def __init__(self, watchdog, window_ms, ticks_ms, ticks_diff):
        self.watchdog = watchdog
        self.timer = None
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._start = ticks_ms()
        self._window = window_ms
        self.feeds = 0

    def left_ms(self):
        return max(0, self._window - self._ticks_diff(self._ticks_ms(), self._start))

    def left_s(self):
        return self.left_ms() // 1000

    def extend(self, seconds=WINDOW_MS // 1000):
        """Keep the board reachable for seconds from now (another 10 minutes by default)."""
        self._start = self._ticks_ms()
        self._window = int(seconds * 1000)
        return self.left_s()

    def end(self):
        """Stop feeding now: the watchdog resets the board within its timeout."""
        self._window = 0
        return 0

    def tick(self, _timer=None):
        """The timer's callback: feed while the window lasts, then stop for good."""
        if self.left_ms() > 0:
            self.watchdog.feed()
            self.feeds += 1
        elif self.timer is not None:
            self.timer.deinit()
            self.timer = None


def enter(watchdog, periodic, window_ms=WINDOW_MS):
    """Start the maintenance window: feed watchdog from periodic(ms, callback), the board's
    timer factory (hw.periodic). None on a board without one (CircuitPython has no
    machine.Timer): there, nothing changes."""
    if periodic is None or watchdog is None:
        return None
    m = Maintenance(watchdog, window_ms, port.ticks_ms, port.ticks_diff)
    watchdog.feed()  # the window starts fed
    m.timer = periodic(TICK_MS, m.tick)
    sys.modules[NAME] = m
    print(
        "netmeter: maintenance for %d s: the watchdog is fed; the board resets into service "
        "after it (import maintenance; maintenance.extend() / .end())" % (window_ms // 1000)
    )
    return m
