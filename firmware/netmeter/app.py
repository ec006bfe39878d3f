# The firmware's one orchestrating loop: poll the meter, take pulses, net, close, store.
import json
from binascii import hexlify

from micropython import const

from netmeter import errlog as codes
from netmeter.atomic import write_atomic
from netmeter.errlog import ErrorLog
from netmeter.poller import MeterPoller
from netmeter.rtu import ExceptionReply, ResponseTimeout, RtuMaster
from netmeter.store import RecordStore
from netmeter.timekeeping import TimeKeeper
from netmeter.trace import FrameTrace
from shared.port import ticks_diff, ticks_us
from shared.record import BAD_READING, COMM_ERROR, PULSES_REJECTED
from shared.regmap import RegisterMap, mwh_per_count

# The frame trace's ring: a TRACE reply carries each frame byte as two hex digits in one
# link frame (shared.frame.MAX_BODY, 1016 bytes), so it never shows more than 508 bytes of
# frames; a bigger ring would keep bytes no reply sends.
_TRACE_BYTES = const(512)


class App:
    """Runs on any board: hw gives pulses, rs485, watchdog, clock and fs_root. settings are
    complete and valid (shared.config.resolve, with the register map it built): the app takes
    its values from them and checks nothing again."""

    def __init__(self, hw, settings, regmap):
        cfg = settings
        self.hw = hw
        self.config_state = "ok"  # or "last_good: <why>" (netmeter.runner)
        phases = ("l1", "l2", "l3")[: cfg["phases"]]
        self.power_names = [(("p_" + ph), ("q_" + ph)) for ph in phases]
        names = cfg["polled"]
        netting = dict(cfg["netting"])
        if "registers" in netting["sources"]:
            energy = regmap.quantity("import_energy")
            netting["register_mwh_per_count"] = mwh_per_count(energy)
            netting["register_wrap_bits"] = None if energy.is_float else energy.bits
        self.uses_power = "power" in netting["sources"]
        # The master times silences by the line's baud.
        master = RtuMaster(cfg["rs485"]["baud"], cfg["timeout_ms"] * 1000, cfg["retries"])
        # Keep only the polled quantities: the rest of the map would stay in the heap unused.
        polled = RegisterMap(
            regmap.name, [regmap.quantity(n) for n in names], regmap.max_gap, regmap.unit_id
        )
        polled.max_read = regmap.max_read
        polled.site_limit_w = regmap.site_limit_w
        regmap = None
        self.poller = MeterPoller(master, polled, names)
        # No poll outlasts the period: shared.config refuses timeouts x retries x reads that
        # would not end before the next poll is due.
        self.period_ms = cfg["poll_period_s"] * 1000
        self.next_poll_ms = None
        self.poll_t = None
        self.fault_point = getattr(hw, "fault_point", None)  # the simulator's power-cut seam
        root = hw.fs_root
        self.device_id = cfg["device_id"] or getattr(hw, "device_id", None) or hw.name
        self.errlog = ErrorLog(root + "/errors.log", clock=hw.clock)
        self.store = RecordStore(root + "/records", self.device_id, cfg["capacity"])
        self.checkpoint_ms = cfg["checkpoint_s"] * 1000
        self.last_checkpoint_ms = None
        # Whole frames on the meter's line, as many bytes as one TRACE reply can show.
        self.trace = FrameTrace(hw.rs485.baud, nbytes=_TRACE_BYTES)
        # Boot-only code (netmeter.heap.APP_BOOT_MODULES, forgotten after boot): open the
        # store, repairing what a cut left, then carry on from the checkpoint.
        from netmeter.checkpoint import FILE, recover
        from netmeter.repair import note_open, open_store

        self.checkpoint_path = root + FILE
        note_open(self.errlog, open_store(self.store))
        self.acc = recover(self.checkpoint_path, self.store, netting, self.errlog)
        # Set by the host link (netmeter.linkdevice), kept here because the link service
        # drops its device when the host goes quiet.
        self.acked = -1  # the host's last ack since boot, for INFO
        self.config_pending = False  # a new config.json waits for the next boot
        # No interval is closed in an unknown time base (netmeter.timekeeping).
        self.timekeeper = TimeKeeper(hw.clock.is_set)
        self._ticks = ticks_us
        self._last_ticks = self._ticks()
        self._mono_us = 0
        self.link = None  # the host link service; the runner attaches it on a board

    def monotonic_us(self):
        # ticks_us wraps (every 18 minutes on 32-bit ports); this count does not.
        now = self._ticks()
        self._mono_us += ticks_diff(now, self._last_ticks)
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
                self.timekeeper.poll_started(self.hw.clock.is_set)
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
        self.trace.add(now_us, "rx", data)  # an empty read too: it is how the trace sees silence
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
        timekeeper = self.timekeeper
        # An unset clock's reading is no date: log ms since start ("clock unset +s" in host log).
        self._log_poll(t if timekeeper.placed else self.monotonic_us() // 1000, result, rejected)
        if not timekeeper.placed:
            # t is no UTC time: hold the reading in the open interval, close nothing.
            timekeeper.hold(self.acc, imp, exp, flags)
            self.keep(t, [])
            return
        if timekeeper.first_placed():
            self.last_checkpoint_ms = None  # the held checkpoints' times were not UTC
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
        """Write the checkpoint file (netmeter.checkpoint states its format): the accumulator's
        state and the closed records pending, not yet appended."""
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
        if old is None or not self.timekeeper.may_step():
            return  # a clock set while the time was unknown ends the hold, steps nothing
        self.keep(old + step_ms, self.acc.step_clock(old + step_ms))

    def reset_net(self):
        self.acc.reset_net()
