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
    """The simulated board's watchdog: it resets nothing, it records each feed so that the
    simulator (which owns the process) can see a loop that stopped feeding and act on it."""

    def __init__(self, ticks_ms, timeout_ms):
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self.last_feed_ticks = None
        self._ticks = ticks_ms

    def feed(self):
        self.feeds += 1
        self.last_feed_ticks = self._ticks()
