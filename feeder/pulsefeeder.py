# S0 pulse feeder: a second microcontroller (e.g. a Raspberry Pi Pico) that drives two GPIO
# outputs at edge times the host sends over USB serial; each output lights the LED of an
# optocoupler whose transistor closes the netmeter board's S0 input, as a meter's would.
#
# Protocol: lines of ASCII on the USB serial (stdin/stdout), one reply line per command.
#
#   V                  -> OK pulsefeeder <version> q=<queue size>
#   T0                 -> OK    now is time 0; the queue is emptied and both outputs go low
#   E <t> <ch> <level> -> OK | LATE <ms> | FULL | ERR <reason>
#                         t: ms since T0 (an integer >= 0, never before the edge queued last);
#                         ch: 0 import, 1 export; level: 1 contact closed (pulse on), 0 open.
#                         LATE: queued, but its time has passed by <ms>: driven at once.
#                         FULL: the queue is full, nothing queued: send it again later.
#   S                  -> S <queued> <played> <late> <ms since T0>
#   X                  -> OK    the queue is emptied and both outputs go low
#
# A malformed or unknown line gets "ERR <reason>" and changes nothing; an empty line gets no
# reply. The start prints "READY pulsefeeder <version> q=<queue size>".
#
# Feeder is sans-IO (fed lines, a tick clock and pin objects) so that it runs on CPython and
# MicroPython alike; main() is the thin shell over sys.stdin/sys.stdout and machine.Pin.
import sys

VERSION = 1
QUEUE = 128  # edges queued ahead; the host keeps about a second's worth in flight
PINS = (2, 3)  # GPIO of the import and export outputs (Pico: GP2 pin 4, GP3 pin 5)
MAX_LINE = 48
UNIX = ("linux", "darwin")  # sys.platform of the MicroPython unix port: stand-in pins


class Feeder:
    def __init__(self, pins, ticks_ms, ticks_diff, size=QUEUE):
        self.pins = pins
        self.ticks_ms = ticks_ms
        self.ticks_diff = ticks_diff
        self.size = size
        self.times = [0] * size
        self.chans = bytearray(size)
        self.levels = bytearray(size)
        self.head = 0
        self.count = 0
        self.started = False
        self.now = 0  # ms since T0, kept up by tick differences: wrap-safe for any length
        self.last = ticks_ms()
        self.last_t = 0  # time of the edge queued last
        self.played = 0
        self.late = 0
        self.clear()

    def clear(self):
        self.head = 0
        self.count = 0
        self.last_t = 0
        for pin in self.pins:
            pin.value(0)

    def advance(self):
        """Bring now up to the tick clock (call at least every few days: ticks wrap)."""
        t = self.ticks_ms()
        self.now += self.ticks_diff(t, self.last)
        self.last = t
        return self.now

    def poll(self):
        """Drive every edge that is due; return ms until the next one, or None."""
        now = self.advance()
        times = self.times
        while self.count:
            i = self.head
            t = times[i]
            if t > now:
                return t - now
            self.pins[self.chans[i]].value(self.levels[i])
            self.head = (i + 1) % self.size
            self.count -= 1
            self.played += 1
        return None

    def line(self, text):
        """One command line (without its end); returns the reply line, or None."""
        words = text.split()
        if not words:
            return None
        cmd = words[0]
        if cmd == "E":
            return self.edge(words)
        if len(words) != 1:
            return "ERR %s takes no arguments" % cmd
        if cmd == "V":
            return "OK pulsefeeder %d q=%d" % (VERSION, self.size)
        if cmd == "T0":
            self.clear()
            self.last = self.ticks_ms()
            self.now = 0
            self.played = 0
            self.late = 0
            self.started = True
            return "OK"
        if cmd == "S":
            return "S %d %d %d %d" % (self.count, self.played, self.late, self.advance())
        if cmd == "X":
            self.clear()
            return "OK"
        return "ERR unknown command %s" % cmd[:8]

    def edge(self, words):
        if len(words) != 4:
            return "ERR E needs: E <t_ms> <channel 0|1> <level 0|1>"
        try:
            t = int(words[1])
            ch = int(words[2])
            level = int(words[3])
        except ValueError:
            return "ERR E needs integers"
        if t < 0 or ch not in (0, 1) or level not in (0, 1):
            return "ERR E out of range: t >= 0, channel 0|1, level 0|1"
        if not self.started:
            return "ERR no T0 yet"
        if t < self.last_t:
            return "ERR order: %d is before %d, queued already" % (t, self.last_t)
        if self.count == self.size:
            return "FULL"
        i = (self.head + self.count) % self.size
        self.times[i] = t
        self.chans[i] = ch
        self.levels[i] = level
        self.count += 1
        self.last_t = t
        now = self.advance()
        if t < now:
            self.late += 1
            return "LATE %d" % (now - t)
        return "OK"


class StandInPin:
    """The unix port's output: writes "PIN <index> <level> <ms since T0>" to stderr on each
    change of level (a real output shows only changes too); starts low."""

    def __init__(self, index, out):
        self.index = index
        self.out = out
        self.level = 0
        self.feeder = None

    def value(self, level):
        if level != self.level:
            self.level = level
            now = self.feeder.advance() if self.feeder is not None else 0
            self.out.write("PIN %d %d %d\n" % (self.index, level, now))


def board_pins(numbers=PINS):
    if sys.platform in UNIX:
        return [StandInPin(i, sys.stderr) for i in range(len(numbers))]
    import machine

    return [machine.Pin(n, machine.Pin.OUT, value=0) for n in numbers]


def main(size=QUEUE, pins=None):
    import select
    import time

    pins = board_pins() if pins is None else pins
    feeder = Feeder(pins, time.ticks_ms, time.ticks_diff, size)
    for pin in pins:
        if isinstance(pin, StandInPin):
            pin.feeder = feeder
    stdin = sys.stdin
    out = sys.stdout
    poller = select.poll()
    poller.register(stdin, select.POLLIN)
    out.write("READY pulsefeeder %d q=%d\n" % (VERSION, size))
    buf = []
    overlong = False
    while True:
        wait = feeder.poll()
        if not poller.poll(100 if wait is None else min(wait, 100)):
            continue
        try:
            c = stdin.read(1)
        except OSError:  # unix: the host closed the pty
            return
        if not c:  # unix: end of input
            return
        if c == "\n" or c == "\r":
            if overlong:
                reply = "ERR line longer than %d characters" % MAX_LINE
            else:
                reply = feeder.line("".join(buf))
            buf = []
            overlong = False
            if reply is not None:
                out.write(reply + "\n")
        elif len(buf) < MAX_LINE:
            buf.append(c)
        else:
            overlong = True


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else QUEUE)
