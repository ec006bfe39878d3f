# The simulated board's "hardware": a virtual clock and the control channel from the simulator.
#
# Lines on the control pty, simulator -> board: "E <t_ms> <input> <level>" the S0 input 0
# (import) or 1 (export) changes to pin level 0 or 1 at t; "R <t_ms>" run the firmware up to
# t; "S <t_ms>" set the wall clock (as a host SET_TIME would). Board -> simulator: "H" ready,
# "D <t_ms>" done.
import select

_MASK = (1 << 30) - 1
_INPUTS = (("import", "pulse"), ("export", "export"), ("direction", "direction"))


class VirtualClock:
    """Unix milliseconds owned by the simulator; ticks_ms() feeds the pulse debounce."""

    def __init__(self, start_ms=0):
        self.t = start_ms
        self.is_set = False

    def now_ms(self):
        return self.t

    def ticks_ms(self):
        return self.t & _MASK

    def set_ms(self, unix_ms):
        self.t = unix_ms
        self.is_set = True


class SimControl:
    """Reads the control pty without blocking and replays edges at their virtual times."""

    def __init__(self, path, clock):
        from boards.drivers.pty import set_raw

        self.io = open(path, "r+b", 0)  # unbuffered: flush() on a pty is an fsync, EINVAL
        set_raw(self.io)
        self.poller = select.poll()
        self.poller.register(self.io, select.POLLIN)
        self.clock = clock
        self.buf = b""
        self.armed = None  # [point name, hits to go]: the simulator's power-cut seam
        self.running = None  # the run target being stepped to, until "D" answers it

    def send(self, line):
        self.io.write(line.encode() + b"\n")

    def watch(self, stream):
        """Also wake for stream (the console): next_target then returns None at once, so the
        caller can serve the host link without waiting out its timeout."""
        self.poller.register(stream, select.POLLIN)

    def _lines(self, timeout_ms):
        # FileIO.read(n) blocks until n bytes arrive on the unix port: read one at a time,
        # and only while the control pty itself is readable.
        while True:
            events = self.poller.poll(timeout_ms)
            timeout_ms = 0
            if not any(event[0] is self.io for event in events):
                return
            byte = self.io.read(1)
            if not byte:
                return
            if byte == b"\n":
                line, self.buf = self.buf, b""
                yield line.decode()
            else:
                self.buf += byte

    def next_target(self, pins, timeout_ms=50):
        """Apply edges and clock sets as they come; return the next run target or None.

        pins are the board's SimPins by name; input 0 is "import" (or "pulse" in direction
        wiring), 1 is "export", 2 is "direction".
        """
        for line in self._lines(timeout_ms):
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "E":
                self.clock.t = int(parts[1])
                names = _INPUTS[int(parts[2])]
                pin = pins.get(names[0]) or pins.get(names[1])
                pin.drive(int(parts[3]))
            elif parts[0] == "S":
                self.clock.set_ms(int(parts[1]))
            elif parts[0] == "R":
                return int(parts[1])
            elif parts[0] == "K":
                self.armed = [parts[1], int(parts[2])]
            elif parts[0] == "M":  # a sample now too: the link server may be loaded
                self.send("M %d %d" % heap_watch(True))
        return None


_heap = [0]


def heap_watch(sample):
    """(largest live heap seen after a collect, heap size); sample=True takes a sample."""
    import gc

    if sample:
        gc.collect()
        _heap[0] = max(_heap[0], gc.mem_alloc())
    return _heap[0], gc.mem_alloc() + gc.mem_free()


def fault_point(control):
    """hw.fault_point for the app: at an armed point, tell the simulator and wait to be cut."""

    def hit(name):
        armed = control.armed
        if armed is None or armed[0] != name:
            return
        armed[1] -= 1
        if armed[1] > 0:
            return
        from shared.port import sleep_ms

        control.send("X " + name)
        while True:  # the simulator SIGKILLs the process here: a power cut at this point
            sleep_ms(1000)

    return hit


def run_lockstep(app, hw, control, idle_us=200, link_wait_ms=20):
    """Virtual time: wait for "R t", set the clock to t, run the app until its poll is done.

    The Modbus exchange itself runs on real time (the pty is real); the reading is booked at
    the virtual instant t, so a simulated day repeats exactly.
    """
    import sys
    import time

    control.watch(sys.stdin)  # a host's request wakes the loop at once
    control.send("H")
    steps = 0
    # A step an exception stopped (the runner then goes on in safe mode) is finished here,
    # so that the simulator gets its "D".
    pending = control.running
    while True:
        # Between run targets the host link is still served (short waits keep it brisk).
        if pending is not None:
            target, pending = pending, None
        else:
            target = control.next_target(hw.pins, link_wait_ms)
        if target is None:
            serve = getattr(app, "serve_link", None)
            if serve is not None:
                serve()
            hw.watchdog.feed()
            continue
        hw.clock.t = target
        control.running = target
        while app.step(target):
            time.sleep_us(idle_us)
        steps += 1
        if steps % 64 == 0:
            heap_watch(True)
        control.send("D %d" % target)
        control.running = None
