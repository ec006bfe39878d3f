# Sans-IO meter poll: walks a register map's planned reads through an RtuMaster, one poll cycle.
#
# A failed read is not a zero: its quantities are absent from the result and the error is
# listed with the read. Values the meter marks as missing (SunSpec 0x8000) or that are not
# finite (NaN/inf floats) are left out too, with the reason in `rejected`.
from netmeter.rtu import Failure, Reply, Request, Send
from shared.regmap import energy_count, plan_reads


class PollResult:
    """One poll: decoded values, energy counts, and what could not be read."""

    def __init__(self, started_us):
        self.started_us = started_us
        self.finished_us = None
        self.values = {}  # name -> value in the map's unit
        self.counts = {}  # energy name -> (count, wrap_bits) for the integer netting core
        self.errors = []  # (Read, ModbusError) for every read that failed
        self.rejected = {}  # name -> reason, for values read but not usable

    @property
    def ok(self):
        return not self.errors and not self.rejected

    def failed_names(self):
        names = []
        for read, _ in self.errors:
            for q in read.quantities:
                names.append(q.name)
        return names


class MeterPoller:
    """Start a poll with start(now_us); then feed bytes with receive() and call poll(now_us),
    writing any bytes it returns to the bus, until `done`; the outcome is in `result`."""

    def __init__(self, master, regmap, names, unit=None):
        self.master = master
        self.regmap = regmap
        self.unit = unit if unit is not None else regmap.unit_id
        self.reads = plan_reads(regmap, names, regmap.max_read)
        self.result = None
        self._index = 0
        self._pending = False

    @property
    def counters(self):
        return self.master.counters

    @property
    def done(self):
        return self.result is not None and self.result.finished_us is not None

    def start(self, now_us):
        self.result = PollResult(now_us)
        self._index = 0
        self._pending = False

    def receive(self, data, now_us):
        self.master.receive(data, now_us)

    def poll(self, now_us):
        """Bytes to write to the bus now, or None."""
        result = self.result
        if result is None or result.finished_us is not None:
            return None
        while self._index < len(self.reads):
            read = self.reads[self._index]
            if not self._pending:
                self.master.submit(Request(self.unit, read.function, read.start, read.count))
                self._pending = True
            event = self.master.poll(now_us)
            if event is None:
                return None
            if isinstance(event, Send):
                return event.frame
            if isinstance(event, Reply):
                self._store(read, event.registers)
            elif isinstance(event, Failure):
                result.errors.append((read, event.error))
            self._pending = False
            self._index += 1
        result.finished_us = now_us
        return None

    def _store(self, read, registers):
        result = self.result
        for q in read.quantities:
            words = read.words_of(q, registers)
            value = q.decode(words)
            if value is None:
                result.rejected[q.name] = "not implemented"
                continue
            if q.is_float and value - value != 0:  # NaN or infinite: x - x is not 0
                result.rejected[q.name] = "not a finite number"
                continue
            result.values[q.name] = value
            if q.is_energy:
                result.counts[q.name] = energy_count(q, words)
