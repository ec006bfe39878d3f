# VM side of tests/test_rtu_over_pty.py: the firmware's RTU master, poller and netting core
# on a pty, driven by JSON commands on stdin (one per line), one JSON answer per line.
#
# Commands ("op"):
#   open     path, map, baud, timeout_ms, retries, names (default: every quantity of the map)
#   poll     run one MeterPoller cycle; with an accumulator (op net), feed it at t (ms)
#   request  fn, address, count: one request through the master alone
#   idle     ms: keep reading the line (bytes while idle are the master's to discard)
#   net      config: make_accumulator(config) for this map's energy registers
#   finish   t: close the open interval at t and return it
#   quit
import json
import sys
import time

from boards.drivers.pty import PtyRs485
from netmeter.netting import make_accumulator
from netmeter.poller import MeterPoller
from netmeter.rtu import Failure, Reply, Request, Send
from shared.mapconfig import builtin_map
from shared.record import BAD_READING, COMM_ERROR
from shared.regmap import mwh_per_count

MARK = "@@rtu "
EPOCH_MS = 1699999200000  # a 15-minute boundary: virtual t = 0 is this UTC instant


class Clock:
    """Unwrapped microseconds from time.ticks_us (which wraps)."""

    def __init__(self):
        self.last = time.ticks_us()
        self.us = 0

    def now(self):
        t = time.ticks_us()
        self.us += time.ticks_diff(t, self.last)
        self.last = t
        return self.us


class Client:
    def __init__(self):
        self.clock = Clock()
        self.port = None
        self.poller = None
        self.acc = None
        self.phases = 0

    def open(self, cmd):
        if self.port is not None:
            self.port.close()
        from netmeter.rtu import RtuMaster

        self.regmap = builtin_map(cmd["map"])
        names = cmd.get("names") or [q.name for q in self.regmap.quantities]
        self.port = PtyRs485(cmd["path"], cmd.get("baud", 115200))
        self.master = RtuMaster(
            cmd.get("baud", 115200), cmd.get("timeout_ms", 150) * 1000, cmd.get("retries", 2)
        )
        self.poller = MeterPoller(self.master, self.regmap, names)
        self.acc = None
        return {"reads": [[r.function, r.start, r.count] for r in self.poller.reads]}

    def _pump(self, step, limit_ms=5000):
        # Run the I/O loop until step(now) returns something other than None.
        port = self.port
        clock = self.clock
        end = clock.now() + limit_ms * 1000
        while True:
            data = port.read()
            now = clock.now()
            if data:
                self.master.receive(data, now)
            out = step(now)
            if out is not None:
                return out
            if now > end:
                raise RuntimeError("no outcome within %d ms" % limit_ms)

    def poll(self, cmd):
        poller = self.poller
        port = self.port
        poller.start(self.clock.now())

        def step(now):
            frame = poller.poll(now)
            if frame:
                port.write(frame)
            return True if poller.done else None

        self._pump(step)
        result = poller.result
        out = {
            "values": result.values,
            "counts": dict((k, list(v)) for k, v in result.counts.items()),
            "rejected": result.rejected,
            "errors": [[read.start, error_info(err)] for read, err in result.errors],
            "counters": self.master.counters.as_dict(),
        }
        if self.acc is not None and "t" in cmd:
            out["records"] = self.feed(cmd["t"], result)
        return out

    def request(self, cmd):
        master = self.master
        port = self.port
        master.submit(Request(self.regmap.unit_id, cmd["fn"], cmd["address"], cmd["count"]))

        def step(now):
            event = master.poll(now)
            if isinstance(event, Send):
                port.write(event.frame)
            elif isinstance(event, (Reply, Failure)):
                return event
            return None

        event = self._pump(step)
        out = {"counters": master.counters.as_dict()}
        if isinstance(event, Reply):
            out["registers"] = event.registers
        else:
            out["error"] = error_info(event.error)
        return out

    def idle(self, cmd):
        end = self.clock.now() + cmd["ms"] * 1000
        while self.clock.now() < end:
            data = self.port.read()
            if data:
                self.master.receive(data, self.clock.now())
        return {"counters": self.master.counters.as_dict()}

    def net(self, cmd):
        energy = self.regmap.quantity("import_energy")
        config = dict(cmd.get("config") or {})
        config["register_mwh_per_count"] = mwh_per_count(energy)
        config["register_wrap_bits"] = None if energy.is_float else energy.bits
        self.acc = make_accumulator(config)
        self.phases = cmd.get("phases", 3)
        return {"mwh_per_count": list(mwh_per_count(energy))}

    def feed(self, t, result):
        # As the firmware's app does: a failed read is None, never zero.
        flags = 0
        if result.errors:
            flags |= COMM_ERROR
        if result.rejected:
            flags |= BAD_READING
        values = result.values
        power = []
        for ph in ("l1", "l2", "l3")[: self.phases]:
            p, q = "p_" + ph, "q_" + ph
            if p not in values or q not in values:
                power = None
                break
            power.append((values[p], values[q]))
        counts = result.counts
        registers = None
        if "import_energy" in counts and "export_energy" in counts:
            registers = (counts["import_energy"][0], counts["export_energy"][0])
        records = self.acc.update(EPOCH_MS + t, power, registers, None, flags)
        return [record_info(r) for r in records]

    def finish(self, cmd):
        return {"records": [record_info(r) for r in self.acc.close_now(EPOCH_MS + cmd["t"])]}


def error_info(err):
    return {
        "type": type(err).__name__,
        "kind": err.kind,
        "code": getattr(err, "code", None),
        "name": getattr(err, "name", None),
        "message": str(err),
    }


def record_info(r):
    return {
        "start": r.start_utc * 1000 - EPOCH_MS,
        "duration_s": r.duration_s,
        "end": (r.start_utc + r.duration_s) * 1000 - EPOCH_MS,
        "a_plus": r.a_plus,
        "a_minus": r.a_minus,
        "q": [r.q1, r.q2, r.q3, r.q4],
        "flags": r.flags,
    }


def main():
    client = Client()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            return
        try:
            out = getattr(client, op)(cmd)
        except Exception as exc:  # reported to the test, which fails with the message
            sys.print_exception(exc, sys.stderr)
            out = {"exception": "%s: %s" % (type(exc).__name__, exc)}
        print(MARK + json.dumps(out))


main()
