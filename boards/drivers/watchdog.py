# Watchdogs behind one method, feed(): machine.WDT, CircuitPython's, and the simulator's.


class MachineWatchdog:
    """machine.WDT: once started it cannot be stopped; a missed feed resets the board."""

    def __init__(self, machine, timeout_ms):
        # timeout_ms is the board's watchdog_ms setting (shared.config checks its range)
        self.timeout_ms = timeout_ms
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        self._wdt.feed()


class CircuitPythonWatchdog:
    """microcontroller.watchdog in RESET mode (timeout in seconds, a float)."""

    def __init__(self, microcontroller, watchdog_module, timeout_ms):
        self.timeout_ms = timeout_ms
        self._wdt = microcontroller.watchdog
        self._wdt.timeout = timeout_ms / 1000
        self._wdt.mode = watchdog_module.WatchDogMode.RESET
        self._wdt.feed()

    def feed(self):
        self._wdt.feed()


class RecordingWatchdog:
    """The simulated board's watchdog: it resets nothing itself, it records each feed so that
    the simulator (which owns the process) can see a loop that stopped feeding and act on it.

    feed_path: a file the simulator watches (host/sim/board.py, SimBoard(watchdog=True)):
    its first write starts the watchdog, as machine.WDT() does, and every feed rewrites it
    (at most every FEED_WRITE_MS of real time) with the timeout and the feed count."""

    FEED_WRITE_MS = 200

    def __init__(self, ticks_ms, timeout_ms, feed_path=None):
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self.last_feed_ticks = None
        self._ticks = ticks_ms
        self._path = feed_path
        self._written = None
        if feed_path is not None:
            self._write()

    def feed(self):
        self.feeds += 1
        self.last_feed_ticks = self._ticks()
        if self._path is not None:
            from shared.port import ticks_diff, ticks_ms

            now = ticks_ms()  # real time: the watchdog's clock, not the virtual one
            if ticks_diff(now, self._written) >= self.FEED_WRITE_MS:
                self._write()

    def _write(self):
        from shared.port import ticks_ms

        with open(self._path, "w") as f:
            f.write("%d %d\n" % (self.timeout_ms, self.feeds))
        self._written = ticks_ms()
