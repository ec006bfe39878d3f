# MeterPoller against a scripted in-test slave: values, failed reads and counters, both runtimes.
import struct

from netmeter.poller import MeterPoller
from netmeter.rtu import RtuMaster
from shared.crc import crc16_modbus
from shared.mapconfig import build_map, builtin_map

TIMEOUT_US = 50000


def with_crc(body):
    crc = crc16_modbus(body)
    return body + bytes((crc & 0xFF, crc >> 8))


class ScriptedSlave:
    """Answers read requests from a register table; `faults` changes chosen answers."""

    def __init__(self, unit, registers):
        self.unit = unit
        self.registers = registers  # (function, address) -> word
        self.faults = {}  # start address -> "silent" | "crc" | exception code (int)
        self.requests = []

    def answer(self, frame):
        unit, function, start, count = struct.unpack(">BBHH", frame[:6])
        self.requests.append((function, start, count))
        if unit != self.unit:
            return b""
        fault = self.faults.get(start)
        if isinstance(fault, list):  # one fault per attempt, then normal answers
            fault = fault.pop(0) if fault else None
        if fault == "silent":
            return b""
        if isinstance(fault, int):
            return with_crc(bytes((unit, function | 0x80, fault)))
        body = bytes((unit, function, 2 * count))
        for a in range(start, start + count):
            body += struct.pack(">H", self.registers.get((function, a), 0))
        reply = with_crc(body)
        if fault == "crc":
            reply = reply[:-1] + bytes((reply[-1] ^ 0x55,))
        return reply


def slave_for(regmap, values, unit=1):
    registers = {}
    for q in regmap.quantities:
        if q.name in values:
            for i, w in enumerate(regmap.quantity(q.name).encode(values[q.name])):
                registers[(q.function, q.address + i)] = w
    return ScriptedSlave(unit, registers)


def run_poll(poller, slave, t=0, chunk=3):
    """Drive one poll: the slave answers 2 ms after each request, in chunks; returns end time."""
    poller.start(t)
    pending = b""
    while not poller.done:
        if pending:
            poller.receive(pending[:chunk], t)
            pending = pending[chunk:]
        frame = poller.poll(t)
        if frame is not None:
            pending = slave.answer(frame)
            t += 2000
        t += 500
        assert t < 60000000, "poll never finished"
    return t


VALUES = {
    "v_l1": 230.5,
    "v_l2": 231.0,
    "v_l3": 229.5,
    "i_l1": 10.25,
    "i_l2": 0.5,
    "i_l3": 3.0,
    "p_l1": 2300,
    "p_l2": -100,
    "p_l3": 690,
    "q_l1": 120,
    "q_l2": -40,
    "q_l3": 0,
    "s_l1": 2400,
    "s_l2": 115,
    "s_l3": 700,
    "pf_l1": 0.75,
    "pf_l2": -0.5,
    "pf_l3": 1.0,
    "freq": 50.0,
    "p_total": 2890,
}


def test_poll_of_every_built_in_map_decodes_every_quantity():
    for name in ("generic", "sdm630", "sunspec203"):
        m = builtin_map(name)
        values = dict(VALUES)
        for q in m.quantities:
            if q.is_energy:
                values[q.name] = 12345 if q.unit in ("Wh", "varh") else 12.5
            elif q.name not in values:
                values[q.name] = 500  # q_total, s_total
        slave = slave_for(m, values)
        poller = MeterPoller(RtuMaster(baud=19200, timeout_us=TIMEOUT_US), m, m.names())
        run_poll(poller, slave)
        result = poller.result
        assert result.ok and result.errors == []
        assert result.values == values, name
        assert len(slave.requests) == len(poller.reads)


def test_energy_counts_are_ready_for_the_netting_core():
    m = builtin_map("sdm630")
    slave = slave_for(m, {"import_energy": 12.5, "export_energy": 0.25, "freq": 50.0})
    poller = MeterPoller(RtuMaster(), m, ["import_energy", "export_energy", "freq"])
    run_poll(poller, slave)
    assert poller.result.counts == {
        "import_energy": (12500000, None),
        "export_energy": (250000, None),
    }
    g = builtin_map("generic")
    poller = MeterPoller(RtuMaster(), g, ["import_energy", "export_energy"])
    run_poll(poller, slave_for(g, {"import_energy": 4000000000, "export_energy": 7}))
    assert poller.result.counts == {"import_energy": (4000000000, 32), "export_energy": (7, 32)}


def test_failed_read_is_absent_not_zero():
    m = builtin_map("sdm630")
    values = {"v_l1": 230.0, "p_total": 1000.0, "import_energy": 1.0, "export_energy": 2.0}
    slave = slave_for(m, values)
    slave.faults[0x34] = 2  # p_total read answered with illegal data address
    slave.faults[0x48] = "silent"  # energies never answered
    names = ["v_l1", "p_total", "import_energy", "export_energy"]
    poller = MeterPoller(RtuMaster(timeout_us=TIMEOUT_US, retries=1), m, names)
    run_poll(poller, slave)
    result = poller.result
    assert result.values == {"v_l1": 230.0}
    assert result.counts == {}
    assert sorted(result.failed_names()) == ["export_energy", "import_energy", "p_total"]
    kinds = [(read.start, error.kind) for read, error in result.errors]
    assert kinds == [(0x34, "exception"), (0x48, "timeout")]
    assert str(result.errors[0][1]) == (
        "0x02 illegal data address (register 30053 on unit 1, 2 registers)"
    )
    c = poller.counters
    assert (c.requests, c.sent, c.retries, c.timeouts, c.exceptions) == (3, 4, 1, 2, {2: 1})
    assert not result.ok


def test_crc_error_is_retried_and_the_poll_completes():
    m = builtin_map("generic")
    slave = slave_for(m, {"import_energy": 5, "export_energy": 6})
    slave.faults[0] = ["crc", "crc"]
    poller = MeterPoller(RtuMaster(timeout_us=TIMEOUT_US, retries=2), m, m.names())
    run_poll(poller, slave, chunk=1)
    assert poller.result.errors == []
    assert poller.result.values["export_energy"] == 6
    assert (poller.counters.crc_errors, poller.counters.retries) == (2, 2)


def test_not_implemented_and_non_finite_values_are_rejected_not_stored():
    m = builtin_map("sunspec203")
    slave = slave_for(m, {"p_total": 100, "v_l1": None})
    poller = MeterPoller(RtuMaster(), m, ["p_total", "v_l1"])
    run_poll(poller, slave)
    assert poller.result.values == {"p_total": 100}
    assert poller.result.rejected == {"v_l1": "not implemented"}
    s = builtin_map("sdm630")
    slave = slave_for(s, {"v_l1": 230.0})
    slave.registers[(4, 2)] = 0x7FC0  # v_l2 NaN
    slave.registers[(4, 4)] = 0x7F80  # v_l3 +inf
    poller = MeterPoller(RtuMaster(), s, ["v_l1", "v_l2", "v_l3"])
    run_poll(poller, slave)
    assert poller.result.values == {"v_l1": 230.0}
    assert poller.result.rejected == {"v_l2": "not a finite number", "v_l3": "not a finite number"}


def test_poller_uses_the_configured_unit_and_read_limit():
    m = build_map({"map": "sdm630", "UNIT": 9, "MAX_READ": 12})
    slave = slave_for(m, {"v_l1": 1.0, "pf_l3": 0.5}, unit=9)
    poller = MeterPoller(RtuMaster(), m, ["v_l1", "pf_l3"] + ["p_l%d" % i for i in (1, 2, 3)])
    assert [(r.start, r.count) for r in poller.reads] == [(0, 2), (0x0C, 6), (0x22, 2)]
    run_poll(poller, slave)
    assert poller.result.values["pf_l3"] == 0.5 and poller.result.errors == []
    assert slave.requests == [(4, 0, 2), (4, 0x0C, 6), (4, 0x22, 2)]


def test_a_second_poll_starts_fresh():
    m = builtin_map("generic")
    slave = slave_for(m, {"import_energy": 1})
    poller = MeterPoller(RtuMaster(), m, ["import_energy"])
    t = run_poll(poller, slave)
    first = poller.result
    slave.registers[(3, 1)] = 2
    run_poll(poller, slave, t)
    assert first.values == {"import_energy": 1}
    assert poller.result.values == {"import_energy": 2}
    assert poller.poll(t + 10**7) is None  # done: nothing more to send
