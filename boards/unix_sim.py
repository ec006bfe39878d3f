# The simulated board (MicroPython unix port): pty RS-485; pulses and time from the simulator.
NAME = "unix_sim"
FS_ROOT = "."  # the board directory the simulator starts the process in
MPY_ARCH = "host"  # the unix port of this machine (see host/deploy.py)


class SimPin:
    """An input driven by the simulator's control channel, shaped like machine.Pin.

    The control code calls drive(level) after moving the virtual clock to the edge's time;
    drive() runs the attached handler as a hard IRQ would, only on a level change.
    """

    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, level=1):
        self.level = level
        self._handler = None
        self._trigger = 0

    def value(self):
        return self.level

    def irq(self, handler=None, trigger=3, hard=False):
        self._handler = handler
        self._trigger = trigger

    def drive(self, level):
        if level == self.level:
            return
        self.level = level
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self._handler is not None and self._trigger & edge:
            self._handler(self)


def build(
    settings,
    ticks_ms=None,
    clock=None,
    control=None,
    rs485_path=None,
    fs_root=FS_ROOT,
    wiring=None,
    rs485=None,
    watchdog_feed_path=None,
):
    """Hardware of the simulated board, wired as settings say (shared.config).

    Hooks for the simulator and the tests (they are not settings, and not faked here):
    - ticks_ms: the virtual millisecond tick (wrapping below 2**30) that the simulator
      advances; the pulse debounce and the default clock read it. None: started by `host sim
      board`, which wrote the meter's line and the control channel to unix_sim.json.
    - clock: an object with now_ms()/set_ms()/is_set; default TicksClock(ticks_ms), unset.
    - control: kept as hw.control for the main loop / simulator glue.
    - rs485_path: the pty of the simulated meter's line; fs_root: the board's directory;
      wiring: where the simulator wrote the line and control paths (unix_sim.json);
      rs485: a line object (write/read/baud) in place of the pty, for tests;
      watchdog_feed_path: where the watchdog notes its feeds for the simulator's rp2-like
      watchdog (host.sim.board), which resets the board when they stop.
    The pulse inputs are SimPins in hw.pins ("import"/"export" or "pulse"/"direction"),
    idle at the inactive level of the configured edge.
    """
    from boards import Hardware
    from boards.drivers.irqpins import attach_pulse_irqs
    from boards.drivers.watchdog import RecordingWatchdog
    from netmeter.pulsecounter import PulseCounter
    from netmeter.pulses import EDGE_FALLING, WIRING_DIRECTION

    if ticks_ms is None:
        # Started by the simulator: it wrote where the meter's line and its control are.
        sim = _wiring(wiring or SIM_WIRING)
        rs485_path = sim["rs485"]
        watchdog_feed_path = sim.get("watchdog")
        if sim.get("control"):
            from boards.sim_control import SimControl, VirtualClock

            clock = VirtualClock()
            control = SimControl(sim["control"], clock)
        else:  # free-running, as a real board: its own clock, its own main loop
            clock = FreeClock(**sim.get("clock", {}))
        ticks_ms = clock.ticks_ms
    pulse_cfg = settings["pulses"]
    if rs485 is None and not rs485_path:
        raise ValueError("unix_sim needs rs485_path: the pty of the simulated meter's line")
    idle = 1 if pulse_cfg["edge"] == EDGE_FALLING else 0
    if pulse_cfg["wiring"] == WIRING_DIRECTION:
        pins = {"pulse": SimPin(idle), "direction": SimPin(0)}
    else:
        pins = {"import": SimPin(idle), "export": SimPin(idle)}
    pulses = PulseCounter.from_config(
        pulse_cfg, direction_pin=pins.get("direction"), ticks_ms=ticks_ms
    )
    attach_pulse_irqs(pulses, pins, pulse_cfg["wiring"], SimPin.IRQ_FALLING | SimPin.IRQ_RISING)
    if rs485 is None:
        from boards.drivers.pty import PtyRs485

        rs485 = PtyRs485(rs485_path, settings["rs485"]["baud"])
    if clock is None:  # the simulator brings its own (VirtualClock): no TicksClock code then
        from boards.drivers.clock import TicksClock

        clock = TicksClock(ticks_ms)  # virtual ticks wrap on the 2**30 circle
    hw = Hardware(
        NAME,
        pulses=pulses,
        rs485=rs485,
        watchdog=RecordingWatchdog(ticks_ms, settings["watchdog_ms"], watchdog_feed_path),
        clock=clock,
        fs_root=fs_root,
        pins=pins,
        control=control,
        periodic=ThreadTimer,
    )
    if control is not None:
        from boards.sim_control import fault_point, run_lockstep

        hw.fault_point = fault_point(control)

        def run(app):
            run_lockstep(app, hw, control)

        hw.run = run
    return hw


class ThreadTimer:
    """machine.Timer(mode=PERIODIC) as the rp2 port runs its callbacks, for the unix port,
    which has no machine.Timer: callback(timer) every period_ms of real time, whatever the
    main thread is doing, including waiting in the REPL for input (rp2 runs a scheduled
    timer callback from mp_hal_stdin_rx_chr's wait: docs/maintenance.md). A thread of the
    unix port's _thread (with its GIL) calls it; deinit() stops it, as rp2's does."""

    def __init__(self, period_ms, callback):
        import _thread

        self._running = True
        _thread.start_new_thread(self._loop, (period_ms, callback))

    def _loop(self, period_ms, callback):
        import time

        while self._running:
            time.sleep_ms(period_ms)
            if self._running:
                callback(self)

    def deinit(self):
        self._running = False


SIM_WIRING = "unix_sim.json"


class FreeClock:
    """A free-running board's clock: the host's wall clock, plus offset_ms (a clock set some
    time ago, off by that much); set_ms() (SET_TIME) moves the offset. speed > 1 (tests)
    runs it faster from origin_ms on: origin + (wall - origin) x speed.

    Without "control" in unix_sim.json the board runs on this clock in its own main loop,
    as a real board does in real time."""

    def __init__(self, speed=1, origin_ms=0, offset_ms=None):
        self.speed = speed
        self.origin_ms = origin_ms
        self.offset_ms = offset_ms or 0
        self.is_set = offset_ms is not None

    def _host_ms(self):
        import time

        return self.origin_ms + (time.time_ns() - self.origin_ms * 1000000) * self.speed // 1000000

    def now_ms(self):
        return self._host_ms() + self.offset_ms

    def ticks_ms(self):
        return self._host_ms() & ((1 << 30) - 1)  # a tick count: SET_TIME does not move it

    def set_ms(self, unix_ms):
        self.offset_ms = unix_ms - self._host_ms()
        self.is_set = True


def _wiring(path):
    import json

    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        raise ValueError(
            "unix_sim: %s not found; start the board with `host sim board`, which writes it" % path
        )
