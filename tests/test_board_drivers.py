"""Board modules and drivers against strict fakes of machine, countio, busio and friends."""

import datetime
import os
import sys
import time
import tty

import hwfakes
import pytest
from hwfakes import HardwareMisuse

import boards
from boards import rp2_pico
from boards.drivers.clock import TicksClock, fields_to_unix_ms, unix_ms_to_fields
from boards.drivers.rs485 import char_time_us
from netmeter.pulses import COUNT_MASK
from shared import port
from shared.config import ConfigInvalid, settings
from shared.configboards import BOARDS as CAPS
from shared.port import circle_diff as ticks_diff
from tests.conftest import run_micropython

RP2_PINS = set(range(0, 29))
ESP32_PINS = set(range(0, 22)) | set(range(35, 49))
FEATHER_PINS = ("D5", "D6", "D9", "D10", "D11", "D13", "D24", "D25", "TX", "RX", "A0")
RP2_S0 = CAPS["rp2_pico"]["pins"]
ESP32_S0 = CAPS["esp32_s3"]["pins"]


def made(board, **cfg):
    """The complete settings (shared.config) a board's build() is given."""
    return settings(dict(cfg, board=board))


class FakeTicks:
    def __init__(self, t=0):
        self.t = t

    def ticks_ms(self):
        return self.t & COUNT_MASK


@pytest.fixture
def ticks(monkeypatch):
    """The port's ticks_ms/ticks_diff (shared.port) on a virtual clock."""
    fake = FakeTicks(1000)
    monkeypatch.setattr(port, "ticks_ms", fake.ticks_ms)
    monkeypatch.setattr(port, "ticks_diff", ticks_diff)
    return fake


def install_machine(monkeypatch, flavour, pins, **kwargs):
    machine = hwfakes.make_machine(pins, flavour, **kwargs)
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setattr(port, "sleep_us", lambda us: machine.log.append(("sleep_us", us)))
    return machine


@pytest.fixture
def rp2(monkeypatch, ticks):
    return install_machine(monkeypatch, "rp2", RP2_PINS, de_pin=rp2_pico.PIN_RS485_DE)


@pytest.fixture
def esp32(monkeypatch, ticks):
    from boards import esp32_s3

    return install_machine(
        monkeypatch, "esp32", ESP32_PINS, de_pin=esp32_s3.PIN_RS485_DE, counter_ids=(0, 1)
    )


def channel_b(pin_name):
    return hwfakes.FEATHER_RP2040_GPIO[pin_name] % 2 == 1


@pytest.fixture
def circuitpython(monkeypatch, tmp_path):

    mods, log = hwfakes.make_circuitpython(FEATHER_PINS)
    mods.update(hwfakes.CircuitPyDrive(tmp_path).modules())
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return mods, log


# -- the fakes themselves fail loudly --------------------------------------------------


def test_fakes_refuse_misuse(rp2):
    with pytest.raises(HardwareMisuse, match="no such GPIO"):
        rp2.Pin(99, rp2.Pin.IN)
    pin = rp2.Pin(14, rp2.Pin.IN, rp2.Pin.PULL_UP)
    with pytest.raises(HardwareMisuse, match="hard=True"):
        pin.irq(handler=print, trigger=rp2.Pin.IRQ_FALLING)
    uart = rp2.UART(0, baudrate=9600)
    rp2.Pin(rp2_pico.PIN_RS485_DE, rp2.Pin.OUT, value=0)
    with pytest.raises(HardwareMisuse, match="DE is low"):
        uart.write(b"\x01")
    with pytest.raises(HardwareMisuse, match="unknown keyword"):
        rp2.UART(0, baud=9600)


# -- registry ---------------------------------------------------------------------------


def test_registry_loads_every_board():
    assert set(boards.BOARDS) == {"rp2_pico", "esp32_s3", "feather_rp2040_cp", "unix_sim"}
    for name in boards.BOARDS:
        module = boards.load(name)
        assert module.NAME == name
        assert callable(module.build)
    with pytest.raises(ValueError, match="unknown board 'pico3'.*rp2_pico"):
        boards.load("pico3")


# -- rp2 --------------------------------------------------------------------------------


def test_boards_name_their_device_by_chip_id_and_size_their_store_to_the_flash(rp2):
    hw = rp2_pico.build(made("rp2_pico"))
    assert hw.device_id == "e6613852833a4f2c"  # machine.unique_id(), as hex
    assert made("rp2_pico")["capacity"] * 76 < 848 * 1024  # fits a Pico W's filesystem


def test_rp2_pulse_inputs_are_hard_irqs_bound_to_the_counter(rp2):
    hw = rp2_pico.build(made("rp2_pico"))
    assert hw.name == "rp2_pico" and hw.fs_root == "/"
    imp = rp2.state.pins[RP2_S0["import"]]
    exp = rp2.state.pins[RP2_S0["export"]]
    both = rp2.Pin.IRQ_FALLING | rp2.Pin.IRQ_RISING
    assert imp.irq_args == {"handler": hw.pulses.on_import_edge, "trigger": both, "hard": True}
    assert exp.irq_args["handler"] == hw.pulses.on_export_edge
    assert imp.pull == rp2.Pin.PULL_UP and imp.mode == rp2.Pin.IN


def test_rp2_pulses_count_through_the_irq_and_take_masks_interrupts(rp2, ticks):
    hw = rp2_pico.build(made("rp2_pico", pulses={"debounce_ms": 20}))
    imp = rp2.state.pins[RP2_S0["import"]]
    for start in range(0, 600, 60):
        for t, level in ((start, 0), (start + 1, 1), (start + 2, 0), (start + 30, 1)):
            ticks.t = 5000 + t
            imp.drive(level)
    del rp2.log[:]
    assert hw.pulses.take() == (10, 0, 10)
    assert rp2.log == [("disable_irq",), ("enable_irq",)]


def test_rp2_direction_wiring_uses_one_input_and_a_direction_pin(rp2, ticks):
    hw = rp2_pico.build(made("rp2_pico", pulses={"wiring": "direction"}))
    pulse = rp2.state.pins[RP2_S0["import"]]
    direction = rp2.state.pins[RP2_S0["direction"]]
    assert pulse.irq_args["handler"] == hw.pulses.on_pulse_edge
    assert rp2.state.pins.get(RP2_S0["export"]) is None
    direction.level = 1
    ticks.t = 100
    pulse.drive(0)
    ticks.t = 140
    pulse.drive(1)
    direction.level = 0
    ticks.t = 200
    pulse.drive(0)
    assert hw.pulses.take() == (1, 1, 0)


def test_rp2_rs485_raises_de_writes_flushes_waits_one_char_then_drops_de(rp2):
    hw = rp2_pico.build(made("rp2_pico", rs485={"baud": 9600, "parity": "even"}))
    uart = hw.rs485._uart
    assert uart.kwargs["baudrate"] == 9600 and uart.kwargs["parity"] == 0
    assert uart.kwargs["stop"] == 1 and uart.kwargs["timeout"] == 0
    assert hw.rs485.baud == 9600
    del rp2.log[:]
    hw.rs485.write(b"\x01\x03\x00\x00\x00\x01\x84\x0a")
    assert rp2.log == [
        ("de", 1),
        ("write", b"\x01\x03\x00\x00\x00\x01\x84\x0a"),
        ("flush",),
        ("sleep_us", 1146),  # 11 bits at 9600 baud, rounded up
        ("de", 0),
    ]
    assert rp2.state.pins[rp2_pico.PIN_RS485_DE].level == 0


def test_rs485_drops_de_even_when_the_write_fails(rp2):
    hw = rp2_pico.build(made("rp2_pico"))

    def broken(data):
        raise OSError("uart")

    hw.rs485._uart.write = broken
    with pytest.raises(OSError):
        hw.rs485.write(b"x")
    assert rp2.state.pins[rp2_pico.PIN_RS485_DE].level == 0


def test_rs485_read_returns_what_is_there_without_waiting(rp2):
    hw = rp2_pico.build(made("rp2_pico"))
    assert hw.rs485.read() == b""
    hw.rs485._uart.rx += b"\x01\x03\x02"
    assert hw.rs485.read() == b"\x01\x03\x02"
    assert hw.rs485.read() == b""


def test_rs485_config_validation_and_char_time():
    assert char_time_us(9600) == 1146 and char_time_us(19200) == 573
    assert settings({})["rs485"]["stop_bits"] == 2  # 8N2: 11-bit characters
    assert settings({"rs485": {"parity": "odd"}})["rs485"]["stop_bits"] == 1
    with pytest.raises(ConfigInvalid, match=r"rs485.baud = 0: must be an integer in 300\.\."):
        settings({"rs485": {"baud": 0}})
    with pytest.raises(ConfigInvalid, match="rs485.parity = 'mark'"):
        settings({"rs485": {"parity": "mark"}})


def test_rp2_watchdog_is_started_and_fed(rp2):
    hw = rp2_pico.build(made("rp2_pico", watchdog_ms=5000))
    assert rp2.state.wdt.timeout == 5000
    hw.watchdog.feed()
    hw.watchdog.feed()
    assert rp2.state.wdt.feeds == 2
    with pytest.raises(
        ConfigInvalid, match=r"watchdog_ms = 9000: must be an integer in 1000\.\.8388"
    ):
        made("rp2_pico", watchdog_ms=9000)


@pytest.mark.parametrize("flavour", ["rp2", "esp32"])
def test_a_ctrl_c_window_feeds_the_watchdog_from_the_boards_timer(request, ticks, flavour):
    """maintenance.enter on the board's hw: a periodic machine.Timer as the port takes it
    (rp2: soft timer -1; esp32: hardware timer 0) feeds the started WDT until the window
    ends, then deinits itself."""
    from boards import esp32_s3
    from netmeter import maintenance

    machine = request.getfixturevalue(flavour)
    board = rp2_pico if flavour == "rp2" else esp32_s3
    hw = board.build(made(board.NAME, watchdog_ms=2000))
    try:
        window = maintenance.enter(hw.watchdog, hw.periodic, window_ms=3000)
        (timer,) = machine.state.timers
        assert timer.kwargs["mode"] == machine.Timer.PERIODIC
        assert timer.kwargs["period"] == maintenance.TICK_MS < 2000
        assert sys.modules["maintenance"] is window
        fed = machine.state.wdt.feeds
        for _ in range(8):
            ticks.t += maintenance.TICK_MS
            timer.fire()
        assert machine.state.wdt.feeds == fed + 5  # 3000 ms of 500 ms ticks, then no more
        assert not timer.running
    finally:
        sys.modules.pop("maintenance", None)


def test_rp2_clock_is_unset_until_set_and_writes_utc_fields_to_the_rtc(rp2, ticks):
    hw = rp2_pico.build(made("rp2_pico"))
    assert hw.clock.is_set is False
    assert hw.clock.now_ms() == 946684800000  # the RTC's 2000-01-01 00:00:00, in Unix ms
    hw.clock.set_ms(1700000000123)
    assert hw.clock.is_set is True
    # 2023-11-14 22:13:20 UTC, a Tuesday (weekday 1, Monday = 0).
    assert rp2.state.rtc_fields == (2023, 11, 14, 1, 22, 13, 20, 0)
    ticks.t += 2500
    assert hw.clock.now_ms() == 1700000002623


def test_ticks_clock_stays_exact_across_the_tick_wrap():
    ticks = FakeTicks(COUNT_MASK - 1000)
    clock = TicksClock(ticks.ticks_ms, ticks_diff)
    clock.set_ms(1700000000000)
    total = 0
    for step in (400, 900, 300000000, 300000000, 300000000, 300000000):
        ticks.t += step
        total += step
        assert clock.now_ms() == 1700000000000 + total
    assert total > COUNT_MASK  # went round the tick circle


def test_calendar_conversion_matches_cpython_datetime():
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    for unix_ms in (0, 946684800000, 951782400000, 1700000000123, 4102444799999, 86399999):
        fields = unix_ms_to_fields(unix_ms)
        dt = epoch + datetime.timedelta(milliseconds=unix_ms)
        assert fields[:6] == (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
        assert fields[6] == dt.weekday() and fields[7] == unix_ms % 1000
        assert fields_to_unix_ms(*fields[:6], fields[7]) == unix_ms


# -- esp32 ------------------------------------------------------------------------------


def test_esp32_pulses_use_pcnt_with_glitch_filter_and_are_polled(esp32):
    from boards import esp32_s3

    hw = esp32_s3.build(made("esp32_s3", pulses={"debounce_ms": 20}))
    counters = esp32.state.counters
    assert counters[0].src.id == ESP32_S0["import"]
    assert counters[1].src.id == ESP32_S0["export"]
    for c in counters.values():
        assert c.kwargs == {"edge": esp32.Counter.FALLING, "filter_ns": 20000000}
        assert c.src.pull == esp32.Pin.PULL_UP
    counters[0].count = 7
    counters[1].count = 3
    assert hw.pulses.totals() == (7, 3, 0)
    assert hw.pulses.take() == (7, 3, 0)
    assert counters[0].count == 0  # read and zeroed with value(0)
    counters[1].count = 2
    assert hw.pulses.take() == (0, 2, 0)
    assert hw.pulses.totals() == (7, 5, 0)
    counters[0].deinit()
    with pytest.raises(HardwareMisuse, match="after deinit"):
        hw.pulses.take()


def test_esp32_has_no_hard_irq_and_no_direction_wiring(esp32):

    pin = esp32.Pin(ESP32_S0["import"], esp32.Pin.IN)
    with pytest.raises(HardwareMisuse, match="no hard=True"):
        pin.irq(handler=print, trigger=esp32.Pin.IRQ_FALLING, hard=True)
    with pytest.raises(ConfigInvalid, match="wiring = 'direction': board esp32_s3 counts in"):
        made("esp32_s3", pulses={"wiring": "direction"})


def test_esp32_rs485_toggles_de_around_the_write(esp32):
    from boards import esp32_s3

    hw = esp32_s3.build(made("esp32_s3", rs485={"baud": 19200}))
    del esp32.log[:]
    hw.rs485.write(b"\x01")
    assert esp32.log == [("de", 1), ("write", b"\x01"), ("flush",), ("sleep_us", 573), ("de", 0)]


# -- CircuitPython ----------------------------------------------------------------------


def test_circuitpython_counts_with_countio_polled_in_take(circuitpython):
    from boards import feather_rp2040_cp

    mods, log = circuitpython
    hw = feather_rp2040_cp.build(made("feather_rp2040_cp"))
    imp, exp = mods["countio"].counters
    # PWM channel-B pins (odd GPIO): D5 is GPIO7, D11 is GPIO11 (issue 14, failure 4)
    assert imp.pin is mods["board"].D5 and exp.pin is mods["board"].D11
    assert imp.kwargs == {"edge": "Edge.FALL", "pull": "Pull.UP"}
    imp.edges(4)
    exp.edges(1)
    reads = imp.reads
    assert hw.pulses.take() == (4, 1, 0)
    assert imp.reads > reads  # polled, not interrupt driven
    imp.edges(2)
    assert hw.pulses.totals() == (6, 1, 0)
    assert hw.pulses.take() == (2, 0, 0)
    imp._count = 0xFFFFFFFF  # the port's int32 count wraps
    hw.pulses.take()
    imp.edges(3)
    assert hw.pulses.take() == (3, 0, 0)
    hw.pulses.deinit()
    with pytest.raises(HardwareMisuse, match="after deinit"):
        hw.pulses.take()


def test_circuitpython_rs485_uses_rs485_dir_and_watchdog_resets(circuitpython):
    from boards import feather_rp2040_cp

    mods, log = circuitpython
    hw = feather_rp2040_cp.build(
        made("feather_rp2040_cp", rs485={"baud": 19200, "parity": "even"}, watchdog_ms=4000)
    )
    uart = mods["busio"].uart
    assert uart.kwargs["rs485_dir"] is mods["board"].D9
    assert uart.kwargs["baudrate"] == 19200 and uart.kwargs["parity"] == "Parity.EVEN"
    hw.rs485.write(b"\x01\x04")
    assert log.of("write") == [("write", b"\x01\x04")]
    assert hw.rs485.read() == b""
    uart.rx += b"\x01\x04\x00"
    assert hw.rs485.read() == b"\x01\x04\x00"
    wdt = mods["microcontroller"].watchdog
    assert wdt.mode == "RESET" and wdt.timeout == 4.0
    feeds = wdt.feeds
    hw.watchdog.feed()
    assert wdt.feeds == feeds + 1
    assert hw.clock.is_set is False
    hw.clock.set_ms(1700000000000)
    assert tuple(mods["rtc"].RTC.now)[:6] == (2023, 11, 14, 22, 13, 20)


def test_the_feather_default_s0_pins_can_count():
    pins = made("feather_rp2040_cp")["pulses"]["pins"]
    assert channel_b(pins["import"]) and channel_b(pins["export"])


def test_countio_refuses_a_pin_on_pwm_channel_a_as_the_rp2040_does(circuitpython):
    mods, _ = circuitpython
    countio, board = mods["countio"], mods["board"]
    with pytest.raises(RuntimeError, match="Pin must be on PWM Channel B"):
        countio.Counter(board.D6)  # GPIO8: what CircuitPython 10.2.1 said (issue 14)
    countio.Counter(board.D5)  # GPIO7


def test_circuitpython_refuses_direction_wiring(circuitpython):

    with pytest.raises(ConfigInvalid, match="wiring = 'direction': board feather_rp2040_cp"):
        made("feather_rp2040_cp", pulses={"wiring": "direction"})


# -- unix_sim ---------------------------------------------------------------------------


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def test_unix_sim_needs_its_hooks(pty_pair, tmp_path):
    from boards import unix_sim

    # Without ticks_ms the board expects the simulator's wiring file, and says where it is.
    with pytest.raises(ValueError, match="host sim board"):
        unix_sim.build(made("unix_sim"), wiring=str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="needs rs485_path"):
        unix_sim.build(made("unix_sim"), ticks_ms=FakeTicks().ticks_ms)


def test_unix_sim_pty_and_sim_pins_on_cpython(pty_pair):
    from boards import unix_sim

    master, path = pty_pair
    ticks = FakeTicks(0)
    hw = unix_sim.build(made("unix_sim"), rs485_path=path, ticks_ms=ticks.ticks_ms)
    assert hw.name == "unix_sim" and hw.clock.is_set is False
    os.write(master, b"\x01\x03\x02\x00\x07")
    time.sleep(0.05)
    assert hw.rs485.read() == b"\x01\x03\x02\x00\x07"
    assert hw.rs485.read() == b""
    hw.rs485.write(b"\x01\x03\x00\x00\x00\x01\x84\x0a")
    assert os.read(master, 64) == b"\x01\x03\x00\x00\x00\x01\x84\x0a"
    for t, level in ((100, 0), (101, 1), (102, 0), (130, 1), (200, 0)):
        ticks.t = t
        hw.pins["import"].drive(level)
    assert hw.pulses.take() == (2, 0, 1)
    hw.watchdog.feed()
    assert hw.watchdog.feeds == 1 and hw.watchdog.last_feed_ticks == 200


SIM_SCRIPT = """
import sys
sys.path.append("firmware")
from boards import load
from shared.config import settings
from array import array
t = array("i", [0])
hw = load("unix_sim").build(settings({"rs485": {"baud": 19200}}), rs485_path=sys.argv[1],
                            ticks_ms=lambda: t[0])
got = b""
while len(got) < 5:
    got += hw.rs485.read()
hw.rs485.write(b"echo:" + got)
for ms, level in ((100, 0), (130, 1), (131, 0), (132, 1), (200, 0)):
    t[0] = ms
    hw.pins["import"].drive(level)
print("PULSES", hw.pulses.take(), hw.rs485.baud)
"""


def test_unix_sim_runs_in_the_micropython_unix_port(pty_pair, tmp_path):
    master, path = pty_pair
    script = tmp_path / "sim_board.py"
    script.write_text(SIM_SCRIPT)
    os.write(master, b"hel")
    import threading

    def late():
        time.sleep(0.3)
        os.write(master, b"lo")

    threading.Thread(target=late).start()
    proc = run_micropython([str(script), path], timeout=30)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    assert "PULSES (2, 0, 1) 19200" in proc.stdout.decode()
    assert os.read(master, 64) == b"echo:hello"


# -- board capabilities as data (shared/configboards.py) ----------------------------------


def test_every_registered_board_has_its_capabilities_in_shared():
    assert set(boards.BOARDS) == set(CAPS)


def test_feather_s0_pins_must_be_pwm_channel_b_with_a_slice_each():
    # countio on RP2040 raises "Pin must be on PWM Channel B" for an even GPIO (issue 14.4):
    # the validator refuses it first, with the pins that work.
    with pytest.raises(ConfigInvalid) as exc:
        made("feather_rp2040_cp", pulses={"pins": {"export": "D6"}})
    assert str(exc.value) == (
        "pulses.pins.export = D6 (GPIO8): countio on RP2040 needs a PWM channel-B pin "
        "(odd GPIO): use D5, D11, D13, D25, A1, A3"
    )
    with pytest.raises(ConfigInvalid, match=r"A1 \(GPIO27\): PWM slice 5 is already counting"):
        made("feather_rp2040_cp", pulses={"pins": {"import": "D11", "export": "A1"}})
    with pytest.raises(ConfigInvalid, match=r"import = D9 \(GPIO9\): not an input .*use D5, D11"):
        made("feather_rp2040_cp", pulses={"pins": {"import": "D9"}})  # the DE pin
    with pytest.raises(ConfigInvalid, match="pulses.pins.export = D5 .*uses it already"):
        made("feather_rp2040_cp", pulses={"pins": {"export": "D5"}})


def test_feather_wires_the_s0_pins_the_settings_name(circuitpython):
    from boards import feather_rp2040_cp

    mods, _log = circuitpython
    feather_rp2040_cp.build(
        made("feather_rp2040_cp", pulses={"pins": {"import": "D13", "export": "D25"}})
    )
    imp, exp = mods["countio"].counters
    assert (imp.pin, exp.pin) == (mods["board"].D13, mods["board"].D25)


def test_rp2_s0_pins_are_set_in_the_config_and_checked(rp2):
    hw = rp2_pico.build(made("rp2_pico", pulses={"pins": {"import": 20, "export": 21}}))
    assert rp2.state.pins[20].irq_args["handler"] == hw.pulses.on_import_edge
    assert rp2.state.pins[21].irq_args["handler"] == hw.pulses.on_export_edge
    for bad in (2, 25, 14.0, "GP14", True):  # the DE pin, the LED, not a GPIO number
        with pytest.raises(ConfigInvalid, match="pulses.pins.import = .*: not an input rp2_pico"):
            made("rp2_pico", pulses={"pins": {"import": bad}})
    with pytest.raises(ConfigInvalid, match="pulses.pins.pulse is not an input of rp2_pico"):
        made("rp2_pico", pulses={"pins": {"pulse": 14}})


# -- an external RTC on I2C ---------------------------------------------------------------

RTC_T = 1764403200000  # 2025-11-29 08:00:00 UTC


def test_rp2_with_a_ds3231_boots_with_its_time_and_set_time_writes_it(rp2, ticks):
    from rtcchips import Ds3231Model, FakeI2C

    from boards.drivers.i2crtc import Ds3231

    chip = Ds3231Model()
    Ds3231(FakeI2C({0x68: chip})).write_ms(RTC_T)
    rp2.state.i2c_chips = {0x68: chip}
    hw = rp2_pico.build(made("rp2_pico", rtc={"chip": "ds3231"}))
    assert hw.clock.is_set and hw.clock.now_ms() == RTC_T
    assert rp2.state.rtc_fields == (2025, 11, 29, 5, 8, 0, 0, 0)  # machine.RTC set from it
    assert "ds3231 on I2C0 (sda 4, scl 5): clock set from it at boot" == hw.clock.rtc_state
    ticks.t += 1000
    hw.clock.set_ms(RTC_T + 3600000)  # SET_TIME
    assert chip.regs[0x02] == 0x09


def test_rp2_with_an_rtc_that_does_not_answer_boots_unset_and_says_so(rp2, ticks):
    hw = rp2_pico.build(made("rp2_pico", rtc={"chip": "pcf8523", "i2c": 1, "sda": 6, "scl": 7}))
    assert not hw.clock.is_set
    assert hw.clock.rtc_state.startswith("pcf8523 on I2C1 (sda 6, scl 7): no answer (OSError")


def test_esp32_routes_the_rtc_to_any_free_pin(esp32, ticks):
    from rtcchips import Pcf8523Model

    from boards import esp32_s3

    esp32.state.i2c_chips = {0x68: Pcf8523Model()}  # reset: OS set, no time yet
    hw = esp32_s3.build(made("esp32_s3", rtc={"chip": "pcf8523", "sda": 38, "scl": 39}))
    assert not hw.clock.is_set and "time lost" in hw.clock.rtc_state
    hw.clock.set_ms(RTC_T)
    assert esp32.state.i2c_chips[0x68].regs[0x03:0x0A] == bytes(
        [0x00, 0x00, 0x08, 0x29, 0x06, 0x11, 0x25]
    )


def test_the_rp2_fake_refuses_i2c_pins_as_the_port_does(rp2):
    with pytest.raises(ValueError, match="bad SDA pin"):
        rp2.I2C(0, sda=rp2.Pin(6), scl=rp2.Pin(5))
