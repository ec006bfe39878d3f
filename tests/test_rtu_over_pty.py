"""The firmware's RTU master in the real MicroPython VM, over a pty, against the simulated meter.

The VM runs tests/mpy/rtu_client.py (PtyRs485 + RtuMaster + MeterPoller + the netting core);
this side drives the meter in virtual time, injects faults into the pymodbus server's line
and compares what the VM read and booked with what the meter held.
"""

import json
import math
import os
import select
import subprocess
import time
from fractions import Fraction

import pytest

from host.sim.energy import UJ_PER_MWH
from host.sim.meter import SimMeter
from host.sim.modbus import MeterServer
from host.sim.site import SiteConfig
from shared.mapconfig import MAP_NAMES, builtin_map
from shared.record import (
    BAD_READING,
    COMM_ERROR,
    DATA_INVALID,
    METER_RESET,
    RECOVERED,
    flag_names,
)
from shared.regmap import energy_count, mwh_per_count
from tests.conftest import MICROPYPATH, ROOT, micropython_exe

SCRIPT = ROOT / "tests" / "mpy" / "rtu_client.py"
MARK = "@@rtu "
AFTERNOON_MS = 16 * 3600 * 1000
TIMEOUT_MS = 150
RETRIES = 2
F32 = 2.0**-23  # float32 relative precision (24-bit significand)
EXCEPTION_NAMES = {
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x06: "server busy",
    0x0B: "gateway target failed to respond",
}


class VM:
    """One micropython process running rtu_client.py; call(op, ...) -> its JSON answer."""

    def __init__(self):
        env = dict(os.environ, MICROPYPATH=MICROPYPATH)
        self.proc = subprocess.Popen(
            [micropython_exe(), str(SCRIPT)],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def call(self, op, timeout=20.0, **kwargs):
        kwargs["op"] = op
        self.proc.stdin.write((json.dumps(kwargs) + "\n").encode())
        self.proc.stdin.flush()
        end = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], end - time.monotonic())
            if not ready:
                pytest.fail("the VM did not answer %r within %.0f s" % (op, timeout))
            line = self.proc.stdout.readline().decode()
            if not line:
                pytest.fail("the VM exited: %s" % self.proc.stderr.read().decode()[-3000:])
            if line.startswith(MARK):
                out = json.loads(line[len(MARK) :])
                assert "exception" not in out, out["exception"]
                return out

    def close(self):
        try:
            self.proc.stdin.write(b'{"op": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def vm():
    machine = VM()
    yield machine
    machine.close()


def make_meter():
    # 16:00 with 2.5 kW of PV and arithmetic summation: one phase imports while the others
    # export, so both energy registers move by several Wh a minute.
    site = SiteConfig(seed=3, profile="household", pv_peak_w=2500, day_offset_ms=AFTERNOON_MS)
    return SimMeter(site, summation="arithmetic")


@pytest.fixture(scope="module")
def generic():
    """A generic-map meter whose server stays up for the module; faults are cleared after use."""
    meter = make_meter()
    with MeterServer(meter, "generic") as server:
        yield server


@pytest.fixture
def line(vm, generic):
    generic.clear_faults()
    vm.call("open", path=generic.device_path, map="generic", timeout_ms=TIMEOUT_MS)
    yield generic
    generic.clear_faults()


# --- what the meter holds -----------------------------------------------------------------


def held(server):
    """{name: (value the meter holds, value after the register's encoding, count or None)}."""
    values = server.registers.values()
    out = {}
    for q in server.regmap.quantities:
        words = q.encode(values[q.name])
        count = list(energy_count(q, words)) if q.is_energy else None
        out[q.name] = (values[q.name], q.decode(words), count)
    return out


def check_values(server, result):
    """Every quantity the VM read equals what the meter holds: exactly for integer registers
    and energy counts, to float32 precision for float registers."""
    assert result["errors"] == [] and result["rejected"] == {}, result
    expected = held(server)
    assert sorted(result["values"]) == sorted(expected)
    for q in server.regmap.quantities:
        meter_value, encoded, count = expected[q.name]
        got = result["values"][q.name]
        if q.is_float:
            assert math.isclose(got, meter_value, rel_tol=F32, abs_tol=1e-30), (q.name, got)
        else:
            assert got == encoded, (q.name, got, encoded)
            resolution = Fraction(q.scale_num, q.scale_den)
            if q.is_energy:  # a completed count, as a meter's display shows it
                assert Fraction(got) == Fraction(meter_value) % (resolution * (1 << q.bits))
            else:
                assert abs(Fraction(got) - Fraction(meter_value)) <= resolution / 2, q.name
        if q.is_energy:
            assert result["counts"][q.name] == count, q.name


# --- 1. every quantity of every built-in map ---------------------------------------------


@pytest.mark.parametrize("map_name", MAP_NAMES)
def test_every_quantity_of_every_map(vm, map_name):
    meter = make_meter()
    regmap = builtin_map(map_name)
    with MeterServer(meter, map_name) as server:
        opened = vm.call("open", path=server.device_path, map=map_name)
        assert len(opened["reads"]) == {"generic": 1, "sdm630": 3, "sunspec203": 1}[map_name]
        counters = None
        for t in (0, 1000, 61_000, 900_000, 3_600_000, 3_600_500):
            meter.advance_to(t)
            result = vm.call("poll")
            check_values(server, result)
            counters = result["counters"]
        # The energy registers follow the meter's own counters.
        metered = meter.metered()
        for name, mwh in (("import_energy", metered.a_plus), ("export_energy", metered.a_minus)):
            q = regmap.quantity(name)
            num, den = mwh_per_count(q)
            booked = Fraction(result["counts"][name][0] * num, den)
            slack = Fraction(num, den) if not q.is_float else mwh // UJ_PER_MWH * F32 + 1
            assert 0 <= mwh // UJ_PER_MWH - booked <= slack, name
        assert metered.a_plus > 0 and metered.a_minus > 0  # both directions were exercised
        reads = len(opened["reads"]) * 6
        assert counters["replies"] == counters["sent"] == reads
        assert counters["retries"] == counters["failures"] == counters["discarded_bytes"] == 0


# --- 2. faults: each one yields its named error, retried where that is the rule ----------


def delta(before, after):
    return {k: after[k] - before[k] for k in before if k != "exceptions"}


def poll_checked(vm, server):
    result = vm.call("poll")
    check_values(server, result)
    return result


GENERIC_REPLY = 5 + 2 * 48  # bytes of the reply to the generic map's one read
DATA_BIT = 8 * 3  # sim's corrupt_crc bit: 0 hits the byte count, 8 * k data byte k
# The master's documented rule: a flip in the unit, function or byte count makes the frame
# foreign (skipped), so it ends in a timeout and a retry; a flip in the data or CRC is a CRC
# error, retried after silence.
RECOVERED_ONCE = [
    # fault, its parameters, counter that counts it, discarded bytes
    ("corrupt_crc", {"bit": DATA_BIT}, "crc_errors", GENERIC_REPLY),
    ("corrupt_crc", {}, "timeouts", GENERIC_REPLY),
    ("no_reply", {}, "timeouts", 0),
    ("wrong_unit", {}, "timeouts", GENERIC_REPLY),
    ("truncate", {}, "frame_errors", 0),
]


@pytest.mark.parametrize("fault,params,counter,discarded", RECOVERED_ONCE)
def test_fault_once_is_retried_and_read_exactly(vm, line, fault, params, counter, discarded):
    line.meter.advance_by(10_000)
    before = poll_checked(vm, line)["counters"]
    getattr(line.faults, fault)(count=1, **params)
    line.meter.advance_by(10_000)
    after = poll_checked(vm, line)["counters"]
    d = delta(before, after)
    assert d[counter] == 1 and d["retries"] == 1 and d["sent"] == 2, d
    assert d["replies"] == 1 and d["failures"] == 0, d
    assert d["discarded_bytes"] >= discarded, d


PERSISTENT = [
    # fault, its parameters, error class, counter
    ("corrupt_crc", {"bit": DATA_BIT}, "CrcError", "crc_errors"),
    ("corrupt_crc", {"bit": 8 * 100}, "CrcError", "crc_errors"),  # the CRC's own bytes
    ("corrupt_crc", {}, "ResponseTimeout", "timeouts"),
    ("no_reply", {}, "ResponseTimeout", "timeouts"),
    ("wrong_unit", {}, "ResponseTimeout", "timeouts"),
    ("truncate", {}, "FrameError", "frame_errors"),
    ("truncate", {"keep": 1}, "FrameError", "frame_errors"),
]


@pytest.mark.parametrize("fault,params,error,counter", PERSISTENT)
def test_persistent_fault_fails_with_its_error_after_retries(
    vm, line, fault, params, error, counter
):
    before = poll_checked(vm, line)["counters"]
    getattr(line.faults, fault)(**params)
    result = vm.call("poll")
    (start, err), *rest = result["errors"]
    assert rest == [] and start == 0
    assert err["type"] == error, err
    assert result["values"] == {} and result["counts"] == {}  # a failed read is not a zero
    d = delta(before, result["counters"])
    assert d["sent"] == 1 + RETRIES and d["retries"] == RETRIES, d
    assert d[counter] == 1 + RETRIES and d["failures"] == 1, d
    line.faults.clear()
    poll_checked(vm, line)


@pytest.mark.parametrize("code", sorted(EXCEPTION_NAMES))
def test_exception_reply_is_named_and_not_retried(vm, line, code):
    before = poll_checked(vm, line)["counters"]
    line.faults.exception(code, count=1)
    result = vm.call("poll")
    [[_, err]] = result["errors"]
    assert err["type"] == "ExceptionReply" and err["code"] == code, err
    assert err["name"] == EXCEPTION_NAMES[code]
    assert err["message"].startswith("0x%02X %s (register 40001 on unit 1" % (code, err["name"]))
    assert result["values"] == {}
    d = delta(before, result["counters"])
    assert d["sent"] == 1 and d["retries"] == 0 and d["failures"] == 1, d
    exc_before = before["exceptions"].get(str(code), 0)
    assert result["counters"]["exceptions"][str(code)] == exc_before + 1
    poll_checked(vm, line)


def test_garbage_before_the_frame_is_skipped_without_a_retry(vm, line):
    before = poll_checked(vm, line)["counters"]
    line.faults.garbage(count=2)
    poll_checked(vm, line)
    after = poll_checked(vm, line)["counters"]
    d = delta(before, after)
    assert d["discarded_bytes"] == 2 * 3 and d["retries"] == 0 and d["sent"] == 2, d


def test_stale_reply_is_not_taken_for_the_next_request(vm, line):
    # No retries, so that the late reply meets the next, different request.
    vm.call("open", path=line.device_path, map="generic", timeout_ms=TIMEOUT_MS, retries=0)
    line.faults.stale_reply(count=1)  # held until the next request reaches the meter
    first = vm.call("request", fn=3, address=0, count=2)
    assert first["error"]["type"] == "ResponseTimeout"
    # The held 9-byte reply (byte count 4) arrives first; the master skips it byte by byte
    # and takes the real reply of this 4-register read.
    line.meter.advance_by(5_000)
    second = vm.call("request", fn=3, address=14, count=4)
    q = line.regmap.quantity("export_energy")
    assert second["registers"][:2] == q.encode(line.registers.values()["export_energy"])
    assert second["counters"]["discarded_bytes"] - first["counters"]["discarded_bytes"] == 9
    # Delivered after the master gave up: bytes while idle are discarded, the next read is
    # fresh.
    line.faults.stale_reply(count=1, delay_ms=TIMEOUT_MS + 100)
    third = vm.call("request", fn=3, address=0, count=2)
    assert third["error"]["type"] == "ResponseTimeout"
    idle = vm.call("idle", ms=TIMEOUT_MS + 150)["counters"]
    assert idle["discarded_bytes"] - third["counters"]["discarded_bytes"] == 9
    line.meter.advance_by(5_000)
    fourth = vm.call("request", fn=3, address=0, count=2)
    q = line.regmap.quantity("import_energy")
    assert fourth["registers"] == q.encode(line.registers.values()["import_energy"])


def test_ct_faults_show_in_the_power_values(vm, line):
    meter = line.meter
    meter.advance_by(1000)
    clean = poll_checked(vm, line)["values"]
    meter.invert_ct(0)
    meter.attenuate_ct(1, 50)
    faulted = poll_checked(vm, line)["values"]
    meter.clear_ct_faults()
    for field in ("p", "q"):  # integer W / var registers: the encoding rounds once
        assert abs(faulted[field + "_l1"] + clean[field + "_l1"]) <= 1
        assert abs(faulted[field + "_l2"] - clean[field + "_l2"] / 2) <= 1
        assert faulted[field + "_l3"] == clean[field + "_l3"]
    assert abs(clean["p_l1"]) > 10 and abs(clean["p_l2"]) > 10


# --- 3. no phantom energy: the netting core in the VM, fed by reads with faults ---------

POLL_MS = 10_000


def run_span(vm, server, polls, fault_at=None, t0=None):
    """Poll every POLL_MS from t0 (default: half a minute past the next whole minute), calling
    fault_at(i) at the time of poll i; net the results in the VM, in 1-minute intervals.

    Returns (records, observations) where an observation is (t, counts read or None, flags of
    the poll's result, counts the meter's registers held)."""
    meter = server.meter
    if t0 is None:
        t0 = (meter.now_ms // 60_000 + 1) * 60_000 + 30_000
    vm.call("net", config={"interval_min": 1, "sources": ("registers", "power")})
    records, seen = [], []
    imp_q = server.regmap.quantity("import_energy")
    exp_q = server.regmap.quantity("export_energy")
    for i in range(polls):
        t = t0 + i * POLL_MS
        meter.advance_to(t)
        if fault_at is not None:
            fault_at(i)
        values = server.registers.values()
        held_counts = (
            energy_count(imp_q, imp_q.encode(values["import_energy"]))[0],
            energy_count(exp_q, exp_q.encode(values["export_energy"]))[0],
        )
        result = vm.call("poll", t=t)
        records += result["records"]
        got = None
        if not result["errors"]:
            got = (result["counts"]["import_energy"][0], result["counts"]["export_energy"][0])
            assert got == held_counts
        seen.append((t, got, held_counts))
    records += vm.call("finish", t=t0 + (polls - 1) * POLL_MS)["records"]
    return records, seen


def booked(records):
    return sum(r["a_plus"] for r in records), sum(r["a_minus"] for r in records)


def flags_at(records, t):
    """Flags of the record whose interval holds t (the one closed at t when t is its end)."""
    for r in records:
        if r["start"] < t <= r["end"]:
            return r["flags"]
    raise AssertionError("no record holds t=%d" % t)


def good_segments_delta(seen, wrap=None):
    """Sum of deltas between consecutive good readings (Wh counts), wrapping at 2**wrap."""
    good = [(t, c) for t, c, _ in seen if c is not None]
    total = [0, 0]
    for (_, a), (_, b) in zip(good, good[1:]):
        for i in range(2):
            d = b[i] - a[i]
            if wrap is not None:
                d %= 1 << wrap
            total[i] += d
    return total


def test_failed_reads_book_nothing_and_are_recovered_exactly(vm, line):
    faults = line.faults

    def fault_at(i):
        faults.clear()
        if 9 <= i < 17:  # 90 s between good reads: a whole interval unread
            faults.no_reply()
        elif i in (25, 26):
            faults.corrupt_crc()
        elif i == 31:
            faults.exception(0x04)
        elif i == 36:
            faults.truncate()

    records, seen = run_span(vm, line, 48, fault_at)
    first, last = seen[0][2], seen[-1][2]
    assert seen[-1][1] is not None
    imp, exp = booked(records)
    # Conservation: what was booked is the register delta over the span, to the Wh.
    assert (imp, exp) == ((last[0] - first[0]) * 1000, (last[1] - first[1]) * 1000)
    assert last[0] - first[0] > 50 and last[1] - first[1] > 50, (first, last)
    # A failed read is not a zero: nothing looked like a counter reset or a bad value.
    assert not any(r["flags"] & (METER_RESET | BAD_READING) for r in records)
    # Intervals that ended while the meter was silent book nothing, and say so.
    silent = [
        r for r in records if seen[8][0] <= r["start"] and r["start"] + 60_000 <= seen[17][0]
    ]
    assert silent, records
    for r in silent:
        assert (r["a_plus"], r["a_minus"]) == (0, 0), r
        assert r["flags"] & DATA_INVALID and r["flags"] & COMM_ERROR, flag_names(r["flags"])
    assert flags_at(records, seen[17][0]) & RECOVERED
    for i in (25, 31, 36):
        assert flags_at(records, seen[i][0]) & COMM_ERROR
    # Between the readings: at each interval end E, what was booked so far lies between the
    # register delta at the last good reading up to E and at the first one from E on.
    good = [(t, c) for t, _, c in seen if _ is not None]
    total = [0, 0]
    for r in records:
        end = r["end"]
        total = [total[0] + r["a_plus"], total[1] + r["a_minus"]]
        low = [c for t, c in good if t <= end][-1]
        high = [c for t, c in good if t >= end][0]
        for i in range(2):
            assert (low[i] - first[i]) * 1000 <= total[i] <= (high[i] - first[i]) * 1000, r


def test_counter_reset_books_no_invented_energy(vm, line):
    def fault_at(i):
        if i == 12:
            line.registers.reset_counters()

    records, seen = run_span(vm, line, 24, fault_at)
    assert seen[12][2][0] < seen[11][2][0]  # the registers did restart
    imp, exp = booked(records)
    # The reset span (from the last reading before it to the first after) is unknown: it
    # books nothing; every other span books its delta.
    before = good_segments_delta(seen[:12])
    after = good_segments_delta(seen[12:])
    assert (imp, exp) == ((before[0] + after[0]) * 1000, (before[1] + after[1]) * 1000)
    assert flags_at(records, seen[12][0]) & METER_RESET
    assert sum(1 for r in records if r["flags"] & METER_RESET) == 1
    line.registers.clear()


def test_rollover_of_32_bit_registers_is_an_exact_delta(vm, line):
    def fault_at(i):
        if i == 0:
            line.registers.rollover(margin=10)  # both registers wrap past 2**32 after 10 Wh

    records, seen = run_span(vm, line, 18, fault_at)
    assert seen[0][2][0] > (1 << 32) - 11
    for channel in (0, 1):
        wrapped = [i for i in range(1, 18) if seen[i][2][channel] < seen[i - 1][2][channel]]
        assert len(wrapped) == 1, (channel, seen)
    imp, exp = booked(records)
    total = good_segments_delta(seen, wrap=32)
    assert (imp, exp) == (total[0] * 1000, total[1] * 1000)
    assert not any(r["flags"] & (METER_RESET | BAD_READING) for r in records)
    line.registers.clear()


def test_stuck_export_register_books_nothing_while_stuck_and_recovers_when_back(vm, line):
    def fault_at(i):
        if i == 6:
            line.registers.stick_export(True)
        elif i == 16:
            line.registers.clear()

    records, seen = run_span(vm, line, 24, fault_at)
    assert [c[1] for _, c, _ in seen[6:16]] == [0] * 10 and seen[16][1][1] > seen[5][1][1]
    # While stuck: nothing booked beyond the span before the fall (the fall looks like a
    # reset). When the register is back on its course, the energy it counted meanwhile is
    # booked once (RECOVERED), so the span books exactly the register delta.
    first, last = seen[0][2], seen[-1][2]
    assert booked(records) == ((last[0] - first[0]) * 1000, (last[1] - first[1]) * 1000)
    assert flags_at(records, seen[6][0]) & METER_RESET
    assert flags_at(records, seen[16][0]) & RECOVERED
    stuck = [r for r in records if seen[6][0] <= r["start"] and r["end"] <= seen[16][0]]
    assert stuck
    for r in stuck:
        assert r["a_minus"] == 0, r
