# The firmware's one orchestrating loop: poll the meter, take pulses, net, close, store.
import json
import time
from binascii import hexlify

from netmeter import errlog as codes
from netmeter.atomic import write_atomic
from netmeter.errlog import ErrorLog
from netmeter.poller import MeterPoller
from netmeter.rtu import ExceptionReply, ResponseTimeout, RtuMaster
from netmeter.store import YEAR_15MIN, RecordStore
from shared.record import BAD_READING, CLOCK_INVALID, COMM_ERROR, PULSES_REJECTED
from shared.regmap import RegisterMap, mwh_per_count

CHECKPOINT = "/checkpoint.json"
TRACE_FRAMES = 16

DEFAULTS = {
    "meter": {"MAP": "generic"},
    "timeout_ms": 200,
    "retries": 1,
    "poll_period_s": 1,
    "phases": 3,
    "netting": {},
    "checkpoint_s": 60,
    "capacity": None,  # records kept; None: the board's RECORD_CAPACITY (a year where it fits)
    "device_id": None,
}
if hasattr(time, "ticks_us"):
    _ticks_us, _ticks_diff = time.ticks_us, time.ticks_diff
else:  # CPython, for the tests that run the app on both runtimes

    def _ticks_us():
        return time.monotonic_ns() // 1000

    def _ticks_diff(a, b):
        return a - b


def app_config(config):
    cfg = dict(DEFAULTS)
    cfg.update(config or {})
    period = cfg["poll_period_s"]
    if type(period) is not int or not 0 < period <= 60 or 60 % period:
        raise ValueError(
            "poll_period_s=%r: must divide 60 s (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60), "
            "so polls fall on interval boundaries" % (period,)
        )
    return cfg


class App:
    """Runs on any board: hw gives pulses, rs485, watchdog, clock and fs_root. The register
    map comes built (the runner builds it before the rest is imported, to spare the heap)."""

    def __init__(self, hw, config=None, regmap=None):
        cfg = app_config(config)
        self.hw = hw
        self.config = cfg
        if regmap is None:
            from shared.mapconfig import build_map

            regmap = build_map(cfg["meter"])
        phases = ("l1", "l2", "l3")[: cfg["phases"]]
        self.power_names = [(("p_" + ph), ("q_" + ph)) for ph in phases]
        names = []
        for p, q in self.power_names:
            names += [p, q]
        netting = dict(cfg["netting"])
        sources = netting.get("sources", ("registers", "power"))
        if "registers" in sources:
            names += ["import_energy", "export_energy"]
            energy = regmap.quantity("import_energy")
            netting["register_mwh_per_count"] = mwh_per_count(energy)
            netting["register_wrap_bits"] = None if energy.is_float else energy.bits
        self.uses_power = "power" in sources
        self.netting_config = netting
        from netmeter.netting import make_accumulator  # boot only: forgotten after boot

        self.acc = make_accumulator(netting)
        # The line's baud is the board's (config "rs485"); the master times silences by it.
        master = RtuMaster(hw.rs485.baud, cfg["timeout_ms"] * 1000, cfg["retries"])
        names = [n for n in names if n in regmap]
        # Keep only the polled quantities: the rest of the map would stay in the heap unused.
        polled = RegisterMap(
            regmap.name, [regmap.quantity(n) for n in names], regmap.max_gap, regmap.unit_id
        )
        polled.max_read = regmap.max_read
        polled.site_limit_w = regmap.site_limit_w
        regmap = None
        self.poller = MeterPoller(master, polled, names)
        self.period_ms = cfg["poll_period_s"] * 1000
        # The bound on a poll: every read timing out on every attempt must still end
        # before the next poll is due, so no poll ever runs into the next one.
        worst_ms = len(self.poller.reads) * cfg["timeout_ms"] * (cfg["retries"] + 1)
        if worst_ms >= self.period_ms:
            raise ValueError(
                "timeout_ms=%d x (retries=%d + 1) x %d reads = %d ms: must stay below "
                "poll_period_s (%d ms); lower timeout_ms or retries, or poll less often"
                % (
                    cfg["timeout_ms"],
                    cfg["retries"],
                    len(self.poller.reads),
                    worst_ms,
                    self.period_ms,
                )
            )
        self.next_poll_ms = None
        self.poll_t = None
        self.fault_point = getattr(hw, "fault_point", None)  # the simulator's power-cut seam
        root = hw.fs_root
        self.device_id = cfg["device_id"] or getattr(hw, "device_id", None) or hw.name
        self.errlog = ErrorLog(root + "/errors.log", clock=hw.clock)
        capacity = cfg["capacity"] or getattr(hw, "record_capacity", None) or YEAR_15MIN
        self.store = RecordStore(root + "/records", self.device_id, capacity)
        self.checkpoint_path = root + CHECKPOINT
        self.checkpoint_ms = cfg["checkpoint_s"] * 1000
        self.last_checkpoint_ms = None
        self.trace = FrameTrace(TRACE_FRAMES)
        # Boot-only code (the runner forgets it after boot): open the store, then carry on.
        from netmeter.recovery import note_open, recover

        note_open(self, self.store.open())
        recover(self)
        self._ticks = _ticks_us
        self._last_ticks = self._ticks()
        self._mono_us = 0
        self.link = None  # the host link service; the runner attaches it on a board

    def monotonic_us(self):
        # ticks_us wraps (every 18 minutes on 32-bit ports); this count does not.
        now = self._ticks()
        self._mono_us += _ticks_diff(now, self._last_ticks)
        self._last_ticks = now
        return self._mono_us

    def step(self, now_ms):
        """Do what is due at now_ms without blocking; True while a meter poll is under way."""
        if self.poll_t is None:
            # A clock set back (SET_TIME, or the RTC) polls at once: the accumulator sees
            # the step in that reading, rather than the device waiting out the step.
            due = self.next_poll_ms
            if due is None or now_ms >= due or due - now_ms > self.period_ms:
                self.poll_t = now_ms
                self.next_poll_ms = (now_ms // self.period_ms + 1) * self.period_ms
                self.poller.start(self.monotonic_us())
        if self.poll_t is not None:
            self._advance_poll()
        self.serve_link()
        self.hw.watchdog.feed()
        return self.poll_t is not None

    def serve_link(self):
        """Answer the host on the console, without blocking (netmeter.linkservice)."""
        if self.link is not None:
            self.link.serve()

    def _advance_poll(self):
        rs485 = self.hw.rs485
        data = rs485.read()
        now_us = self.monotonic_us()
        if data:
            self.poller.receive(data, now_us)
        if data:
            self.trace.add(now_us, "rx", data)
        frame = self.poller.poll(now_us)
        if frame:
            rs485.write(frame)
            self.trace.add(now_us, "tx", frame)
        if self.poller.done:
            t, self.poll_t = self.poll_t, None
            self.feed(t, self.poller.result)

    def feed(self, t, result):
        """Net one poll's result at instant t (ms) with the pulses counted up to now."""
        imp, exp, rejected = self.hw.pulses.take()
        flags = 0
        if result.errors:
            flags |= COMM_ERROR
        if result.rejected:
            flags |= BAD_READING
        if rejected:
            flags |= PULSES_REJECTED
        if not self.hw.clock.is_set:
            flags |= CLOCK_INVALID
        values = result.values
        power = None
        if self.uses_power:
            power = []
            for p, q in self.power_names:
                if p not in values or q not in values:
                    power = None  # a failed read is not a zero
                    break
                power.append((values[p], values[q]))
        registers = None
        counts = result.counts
        if "import_energy" in counts and "export_energy" in counts:
            registers = (counts["import_energy"][0], counts["export_energy"][0])
        self._log_poll(t, result, rejected)
        records = self.acc.update(t, power, registers, (imp, exp), flags)
        self.keep(t, records)

    # -- records, checkpoints and recovery ---------------------------------------------------

    def keep(self, t, records):
        """Store closed records: checkpoint first (holding them), then append. A cut between
        the two is healed at boot by appending the records the checkpoint still holds."""
        for record in records:
            record.flags |= self.store.take_pending_flags()
        due = self.last_checkpoint_ms is None or t - self.last_checkpoint_ms >= self.checkpoint_ms
        if records or due:
            self.checkpoint(t, records)
        for record in records:
            self.store.append(record)
            self.fault("after-append")
        self._note_drops(t)

    def checkpoint(self, t, pending=()):
        self.fault("before-checkpoint")
        state = {
            "acc": self.acc.state(),
            "pending": [hexlify(r.encode()).decode() for r in pending],
        }
        write_atomic(self.checkpoint_path, json.dumps(state).encode())
        self.last_checkpoint_ms = t
        self.fault("after-checkpoint")

    def _note_drops(self, t):
        """Put the store's drops for capacity in the error log."""
        for event in self.store.take_events():
            self.errlog.log(t, codes.RECORDS_DROPPED, "seq %d..%d" % (event[1], event[2]))

    def _log_poll(self, t, result, rejected):
        for _read, error in result.errors:
            if isinstance(error, ExceptionReply):
                code = codes.modbus_code(error.code)
            elif isinstance(error, ResponseTimeout):
                code = codes.TIMEOUT
            else:
                code = codes.CRC
            self.errlog.log(t, code, str(error))
        if rejected:
            self.errlog.log(t, codes.PULSES_REJECTED, "%d edges" % rejected)

    def fault(self, point):
        if self.fault_point is not None:
            self.fault_point(point)

    # -- host commands -----------------------------------------------------------------------

    def clock_stepped(self, step_ms):
        """SET_TIME moved the clock by step_ms: the open interval closes, flagged."""
        old = self.acc.last_t
        if old is None:
            return
        self.keep(old + step_ms, self.acc.step_clock(old + step_ms))

    def reset_net(self):
        self.acc.reset_net()


class FrameTrace:
    """The last Modbus frames with direction and time, for TRACE: an installer's scope."""

    def __init__(self, size):
        self.size = size
        self.frames = []

    def add(self, t_us, direction, data):
        if len(self.frames) >= self.size:
            self.frames.pop(0)
        self.frames.append((t_us, direction, data))

    def entries(self):
        return [(t, d, hexlify(data).decode()) for t, d, data in self.frames]
