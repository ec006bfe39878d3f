"""The simulated meter's pymodbus RTU server on a pty: values in each map, and every fault."""

import os
import select
import time

import pytest
import serial
from pymodbus.client import ModbusSerialClient

from host.sim.energy import UJ_PER_MWH
from host.sim.meter import SimMeter
from host.sim.modbus import MeterServer
from host.sim.ptyrelay import reply_length, with_crc
from host.sim.pulses import EXPORT
from host.sim.registers import RegisterError
from host.sim.site import HOUR_MS, SiteConfig
from shared.crc import crc16_modbus
from shared.mapconfig import MAP_NAMES, builtin_map
from shared.regmap import ENERGY_UNITS

QUIET_S = 0.15  # a pty answers in about a millisecond: this much silence means "no more"
SILENCE_S = 0.3  # how long a test waits to be sure that no reply comes
GARBAGE = b"\x00\xff\x55"
IMPORT_WH = 0  # generic map, holding registers
P_L1 = 6
EXPORT_WH = 14


def read_request(function, address, count, unit=1):
    return with_crc(bytes((unit, function, address >> 8, address & 0xFF, 0, count)))


def exchange(port, frame, wait_s=1.0):
    """Send a frame; return every byte that arrives (nothing within wait_s: b"")."""
    port.reset_input_buffer()
    port.write(frame)
    return read_reply(port, wait_s)


def read_reply(port, wait_s=1.0):
    """Bytes until a whole frame is in and nothing follows it, or until the line has been
    quiet for QUIET_S after an incomplete frame (truncated, garbage)."""
    port.timeout = wait_s
    received = port.read(1)
    while received:
        length = reply_length(received)
        complete = length is not None and 0 < length <= len(received)
        port.timeout = 0.02 if complete else QUIET_S
        chunk = port.read(max(1, port.in_waiting))
        if not chunk:
            break
        received += chunk
    return received


def read_until_quiet(port, quiet_s=QUIET_S):
    port.timeout = quiet_s
    received = b""
    while True:
        chunk = port.read(max(1, port.in_waiting))
        if not chunk:
            return received
        received += chunk


def crc_ok(frame):
    crc = crc16_modbus(frame[:-2])
    return len(frame) >= 4 and frame[-2:] == bytes((crc & 0xFF, crc >> 8))


def words_of(reply):
    data = reply[3:-2]
    return [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]


def expected_value(meter, q):
    """What the meter's own state says the register should hold, in the map's unit."""
    if q.is_energy:
        metered = meter.metered()
        counter = {
            "import_energy": metered.a_plus,
            "export_energy": metered.a_minus,
            "import_reactive": metered.r_plus,
            "export_reactive": metered.r_minus,
        }.get(q.name)
        if counter is None:
            counter = metered[1 + int(q.name[-1])]  # reactive_qN
        mwh = counter // UJ_PER_MWH
        if q.is_float:
            return mwh / ENERGY_UNITS[q.unit]
        return mwh // ENERGY_UNITS[q.unit]
    instant = meter.instant()
    if q.name == "freq":
        return instant.freq
    if q.name.endswith("_total"):
        return getattr(instant, q.name)
    field, phase = q.name.split("_")
    return getattr(instant.phases[int(phase[1]) - 1], field)


@pytest.fixture
def meter():
    meter = SimMeter()
    meter.advance_to(19 * HOUR_MS + 1234)
    return meter


@pytest.fixture
def server(meter):
    with MeterServer(meter, "generic") as running:
        yield running


@pytest.fixture
def port(server):
    with serial.Serial(server.device_path, 9600, timeout=QUIET_S) as opened:
        yield opened


@pytest.mark.parametrize("map_name", MAP_NAMES)
@pytest.mark.parametrize("hour", [3, 13, 19])
def test_pymodbus_client_reads_the_meters_values_in_each_map(map_name, hour):
    meter = SimMeter()
    meter.advance_to(hour * HOUR_MS + 4321)
    regmap = builtin_map(map_name)
    with MeterServer(meter, map_name) as server:
        client = ModbusSerialClient(server.device_path, baudrate=9600, timeout=1, retries=0)
        assert client.connect()
        try:
            registers = {}
            for function, (first, count) in server.registers.blocks.items():
                read = (
                    client.read_holding_registers if function == 3 else client.read_input_registers
                )
                for start in range(first, first + count, 125):
                    size = min(125, first + count - start)
                    reply = read(start, count=size, device_id=1)
                    assert not reply.isError(), reply
                    for offset, word in enumerate(reply.registers):
                        registers[(function, start + offset)] = word
        finally:
            client.close()
    for q in regmap.quantities:
        words = [registers[(q.function, q.address + k)] for k in range(q.size)]
        got, want = q.decode(words), expected_value(meter, q)
        if q.is_energy and not q.is_float:
            assert got == want, q.name
            continue
        resolution = 0.0 if q.is_float else q.scale_num / q.scale_den
        assert got == pytest.approx(want, rel=1e-6, abs=resolution / 2 + 1e-9), q.name
    if map_name == "sunspec203":
        assert registers[(3, 40000)] == 0x5375 and registers[(3, 40070)] == 203


def test_the_energy_registers_count_what_the_meter_counts(server, port, meter):
    first = words_of(exchange(port, read_request(3, IMPORT_WH, 2)))
    meter.advance_to(21 * HOUR_MS)
    second = words_of(exchange(port, read_request(3, IMPORT_WH, 2)))
    first_wh, second_wh = (w[0] << 16 | w[1] for w in (first, second))
    assert second_wh - first_wh > 500  # an evening's import, in whole Wh
    assert second_wh == meter.metered().a_plus // UJ_PER_MWH // 1000


def test_a_firmware_style_client_reads_the_pty_with_open_and_poll(server):
    # What the MicroPython unix port does: open(path, "r+b"), select.poll, read what is there.
    with open(server.device_path, "r+b", buffering=0) as device:
        device.write(read_request(3, IMPORT_WH, 2))
        poller = select.poll()
        poller.register(device.fileno(), select.POLLIN)
        reply = b""
        deadline = time.monotonic() + 2.0
        while len(reply) < 9 and time.monotonic() < deadline:
            if poller.poll(100):
                reply += os.read(device.fileno(), 64)
    assert reply[:3] == bytes((1, 3, 4)) and crc_ok(reply)


def test_a_request_for_another_unit_gets_silence(port):
    assert exchange(port, read_request(3, IMPORT_WH, 2, unit=7), SILENCE_S) == b""
    assert crc_ok(exchange(port, read_request(3, IMPORT_WH, 2)))


def test_a_broken_request_gets_silence_and_the_next_one_an_answer(port):
    assert exchange(port, b"\x01\x03\x00", SILENCE_S) == b""  # cut short by silence
    bad_crc = bytearray(read_request(3, IMPORT_WH, 2))
    bad_crc[-1] ^= 0x01
    assert exchange(port, bytes(bad_crc), SILENCE_S) == b""
    assert crc_ok(exchange(port, read_request(3, IMPORT_WH, 2)))


def test_an_address_outside_the_map_answers_exception_02(port):
    assert exchange(port, read_request(3, 1000, 2)) == with_crc(bytes((1, 0x83, 0x02)))
    assert exchange(port, read_request(4, 0, 2)) == with_crc(bytes((1, 0x84, 0x02)))


def test_crc_fault_flips_a_bit_and_the_next_reply_is_clean(server, port):
    good = exchange(port, read_request(3, IMPORT_WH, 4))
    server.faults.corrupt_crc(count=1)
    bad = exchange(port, read_request(3, IMPORT_WH, 4))
    assert len(bad) == len(good) and not crc_ok(bad)
    assert sum(bin(a ^ b).count("1") for a, b in zip(bad, good, strict=True)) == 1
    assert exchange(port, read_request(3, IMPORT_WH, 4)) == good


@pytest.mark.parametrize("code", [0x02, 0x03, 0x04, 0x06, 0x0B])
def test_exception_fault_answers_the_code(server, port, code):
    server.faults.exception(code)
    for _ in range(2):  # stays on until cleared
        assert exchange(port, read_request(3, IMPORT_WH, 2)) == with_crc(bytes((1, 0x83, code)))
    server.faults.clear()
    assert exchange(port, read_request(3, IMPORT_WH, 2))[:2] == bytes((1, 3))


def test_pymodbus_client_sees_the_exception_response(server):
    server.faults.exception(0x02)
    client = ModbusSerialClient(server.device_path, baudrate=9600, timeout=1, retries=0)
    assert client.connect()
    try:
        reply = client.read_holding_registers(IMPORT_WH, count=2, device_id=1)
    finally:
        client.close()
    assert reply.isError() and reply.exception_code == 0x02


def test_wrong_unit_fault_answers_as_another_unit_with_a_valid_crc(server, port):
    good = exchange(port, read_request(3, IMPORT_WH, 2))
    server.faults.wrong_unit(unit_id=9)
    reply = exchange(port, read_request(3, IMPORT_WH, 2))
    assert reply[0] == 9 and reply[1:-2] == good[1:-2] and crc_ok(reply)


def test_truncate_fault_sends_only_the_start_of_the_frame(server, port):
    good = exchange(port, read_request(3, IMPORT_WH, 8))
    server.faults.truncate(count=1)
    assert exchange(port, read_request(3, IMPORT_WH, 8)) == good[: len(good) // 2]
    server.faults.truncate(count=1, keep=3)
    assert exchange(port, read_request(3, IMPORT_WH, 8)) == good[:3]


def test_garbage_fault_puts_bytes_before_the_frame(server, port):
    good = exchange(port, read_request(3, IMPORT_WH, 2))
    server.faults.garbage(count=1)
    assert exchange(port, read_request(3, IMPORT_WH, 2)) == GARBAGE + good


def test_no_reply_fault_keeps_the_meter_silent(server, port):
    server.faults.no_reply(count=2)
    assert exchange(port, read_request(3, IMPORT_WH, 2), SILENCE_S) == b""
    assert exchange(port, read_request(3, IMPORT_WH, 2), SILENCE_S) == b""
    assert crc_ok(exchange(port, read_request(3, IMPORT_WH, 2)))


def test_stale_reply_arrives_during_the_next_request(server, port):
    good_short = exchange(port, read_request(3, IMPORT_WH, 2))
    good_long = exchange(port, read_request(3, IMPORT_WH, 6))
    server.faults.stale_reply(count=1)
    assert exchange(port, read_request(3, IMPORT_WH, 2), SILENCE_S) == b""  # client times out
    # The late reply to the first request comes first, then the answer to this one.
    port.write(read_request(3, IMPORT_WH, 6))
    assert read_until_quiet(port) == good_short + good_long


def test_stale_reply_with_a_delay_arrives_after_it(server, port):
    good = exchange(port, read_request(3, IMPORT_WH, 2))
    server.faults.stale_reply(count=1, delay_ms=400)
    sent = time.monotonic()
    assert exchange(port, read_request(3, IMPORT_WH, 2), wait_s=0.2) == b""
    assert read_reply(port, wait_s=1.0) == good
    assert time.monotonic() - sent >= 0.4


def test_counter_reset_restarts_the_energy_registers_from_zero(server, port, meter):
    before = words_of(exchange(port, read_request(3, IMPORT_WH, 2)))
    assert before != [0, 0]
    at_reset = meter.metered().a_plus // UJ_PER_MWH
    server.registers.reset_counters()
    assert words_of(exchange(port, read_request(3, IMPORT_WH, 2))) == [0, 0]
    meter.advance_to(20 * HOUR_MS)
    after = words_of(exchange(port, read_request(3, IMPORT_WH, 2)))
    assert after[0] << 16 | after[1] == (meter.metered().a_plus // UJ_PER_MWH - at_reset) // 1000
    server.registers.clear()
    assert words_of(exchange(port, read_request(3, IMPORT_WH, 2)))[1] > after[1]


def test_rollover_wraps_the_32_bit_counter_past_zero(server, port, meter):
    server.registers.rollover(margin=3)
    assert words_of(exchange(port, read_request(3, IMPORT_WH, 2))) == [0xFFFF, 0xFFFD]
    start_wh = meter.metered().a_plus // UJ_PER_MWH // 1000
    meter.advance_to(20 * HOUR_MS)
    grown = meter.metered().a_plus // UJ_PER_MWH // 1000 - start_wh
    assert grown > 3
    words = words_of(exchange(port, read_request(3, IMPORT_WH, 2)))
    assert words == [0, grown - 3]


def test_float_registers_refuse_to_roll_over():
    meter = SimMeter()
    with MeterServer(meter, "sdm630") as server, pytest.raises(RegisterError):
        server.registers.rollover()


def signed32(words):
    value = words[0] << 16 | words[1]
    return value - (1 << 32) if value & 0x80000000 else value


def test_inverted_ct_shows_the_phase_power_with_the_wrong_sign(server, port, meter):
    true_p = meter.instant(measured=False).phases[0].p
    assert abs(true_p) > 50
    server.meter.invert_ct(0)
    shown = signed32(words_of(exchange(port, read_request(3, P_L1, 2))))
    assert shown == round(-true_p)
    server.clear_faults()
    assert signed32(words_of(exchange(port, read_request(3, P_L1, 2)))) == round(true_p)


def test_attenuated_ct_shows_the_phase_power_reduced(server, port, meter):
    true_p = meter.instant(measured=False).phases[2].p
    server.meter.attenuate_ct(2, 25)
    shown = signed32(words_of(exchange(port, read_request(3, P_L1 + 4, 2))))
    assert shown == round(0.75 * true_p) != round(true_p)


def test_stuck_export_register_reads_zero_while_export_pulses_go_on():
    meter = SimMeter()
    meter.advance_to(13 * HOUR_MS)
    with MeterServer(meter) as server, serial.Serial(server.device_path, 9600) as port:
        assert words_of(exchange(port, read_request(3, EXPORT_WH, 2))) != [0, 0]
        server.registers.stick_export()
        pulses_before = meter.s0[EXPORT].pulses
        meter.advance_to(14 * HOUR_MS)
        assert words_of(exchange(port, read_request(3, EXPORT_WH, 2))) == [0, 0]
        assert meter.s0[EXPORT].pulses - pulses_before > 1000  # over 1 kWh exported meanwhile
        assert words_of(exchange(port, read_request(3, IMPORT_WH, 2))) != [0, 0]


def test_a_value_beyond_the_register_range_answers_exception_03():
    # 80 kW of PV exports more than a SINT16 with SF_W = 0 can hold.
    meter = SimMeter(SiteConfig(pv_peak_w=80_000))
    meter.advance_to(13 * HOUR_MS)
    regmap = builtin_map("sunspec203")
    p_total = regmap.quantity("p_total")
    v_l1 = regmap.quantity("v_l1")
    with MeterServer(meter, "sunspec203") as server:
        with serial.Serial(server.device_path, 9600, timeout=QUIET_S) as port:
            reply = exchange(port, read_request(3, p_total.address, 1))
            assert reply == with_crc(bytes((1, 0x83, 0x03)))
            assert crc_ok(exchange(port, read_request(3, v_l1.address, 1)))


def test_server_stops_cleanly_and_can_start_again(meter):
    for _ in range(2):
        with MeterServer(meter) as server:
            path = server.device_path
            with serial.Serial(path, 9600, timeout=QUIET_S) as opened:
                assert crc_ok(exchange(opened, read_request(3, IMPORT_WH, 2)))
        assert server._thread is None
