"""The firmware as CircuitPython 10 runs it, under CPython with CircuitPython's modules in
sys.modules (tests/hwfakes.py): its time (no sleep_ms, no ticks_*), hashlib (new only),
micropython (const only), storage and usb_cdc, a Feather RP2040's pins, and a CIRCUITPY
drive that code may write only after boot.py remounted it.

`host deploy` puts the firmware on the drive first and the modules are imported from the
drive's lib/, as the board does; boot.py and code.py run as the board runs them.
"""

import errno
import json
import runpy
import sys

import hwfakes
import pytest

from host import drive as circuitpy

FIRMWARE = ("netmeter", "shared", "boards")
CONFIG = {"device_id": "feather-cp-1", "poll_period_s": 1}


@pytest.fixture
def board(monkeypatch, tmp_path):
    """A Feather RP2040 with CircuitPython 10 and a fresh drive holding `host deploy`'s files."""
    root = tmp_path / "CIRCUITPY"
    (root / "lib").mkdir(parents=True)
    (root / "boot_out.txt").write_text("Adafruit CircuitPython 10.2.1 on 2026-10-01\n")
    (root / "code.py").write_text('print("Hello World!")\n')
    circuitpy.deploy(root, dict(CONFIG, board="feather_rp2040_cp"))
    # The board imports the drive's copies, with CircuitPython's modules, nothing cached.
    for name in list(sys.modules):
        if name.split(".")[0] in FIRMWARE:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root / "lib"))
    clock = hwfakes.VirtualTime(grain=0.1, per_read_ns=500_000)
    mods, log = hwfakes.make_circuitpython(hwfakes.FEATHER_RP2040_GPIO)
    mods.update(hwfakes.make_circuitpython_runtime())
    fs = hwfakes.CircuitPyDrive(root)
    mods.update(fs.modules(), time=clock.module)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    fs.install(monkeypatch)
    monkeypatch.chdir(root)
    from boards import feather_rp2040_cp

    # The firmware's "/" is the drive.
    monkeypatch.setattr(feather_rp2040_cp, "FS_ROOT", str(root))
    yield root, mods, fs, clock
    # The drive's modules were built on the fake time and hashlib: none may outlive the test
    # (monkeypatch then puts back the ones imported before it).
    for name in list(sys.modules):
        if name.split(".")[0] in FIRMWARE:
            del sys.modules[name]


def request(serial, rid, code):
    from shared.frame import encode

    serial.rx += encode(rid, code)


def replies(serial):
    from shared.frame import Decoder

    return {f.rid: json.loads(bytes(f.body)) for f in Decoder().feed(bytes(serial.tx))}


def test_boot_remounts_the_drive_for_the_firmware_which_counts_stores_and_answers(board):
    root, mods, fs, clock = board
    runpy.run_path(str(root / "boot.py"))
    assert fs.readonly is False and fs.data_enabled
    data = fs.end_boot(stop_after=2000)  # some seconds of main loop, then Ctrl-C
    from shared.linkproto import INFO, STATUS

    request(data, 1, INFO)
    request(data, 2, STATUS)
    from shared.frame import encode

    data.later[1900] = encode(9, INFO)  # near the end: still the running firmware?
    counters = mods["countio"].counters
    with pytest.raises(KeyboardInterrupt):
        runpy.run_path(str(root / "code.py"), run_name="__main__")
    assert [c.pin.name for c in counters] == ["D5", "D11"]
    answers = replies(data)
    assert answers[1]["board"] == "feather_rp2040_cp" and answers[1]["link_port"] == "data"
    assert answers[1]["device_id"] == "feather-cp-1" and "mode" not in answers[1]
    assert "mode" not in answers[9], answers[9]["mode"]  # the main loop never failed
    assert "pulses" in answers[2]
    assert mods["microcontroller"].watchdog.feeds > 100  # fed all along
    assert clock.ns - 1000 * 10**9 > 1 * 10**9  # the loop ran for seconds
    # Written after the remount: the store's directory, the checkpoint, the error log.
    assert (root / "records").is_dir() and (root / "checkpoint.json").exists()
    # A store append on the board's hashlib (new() only), and a fresh store reads it back.
    from storetest import record

    from netmeter.repair import open_store, verify
    from netmeter.store import RecordStore

    store = RecordStore(str(root / "records"), "feather-cp-1")
    open_store(store)
    stored = store.append(record(store.next_seq or 0))  # None: nothing stored yet
    again = RecordStore(str(root / "records"), "feather-cp-1")
    open_store(again)
    assert verify(again) == [] and list(again.records(stored.seq, True)) == [stored.encode()]
    # The viper module was neither shipped nor imported.
    assert "netmeter.pulsecounter" not in sys.modules


def test_maintenance_mode_leaves_the_drive_to_the_computer_and_stays_reachable(board):
    root, mods, fs, clock = board
    mods["digitalio"].grounded.add("A0")  # the jumper at reset
    runpy.run_path(str(root / "boot.py"))
    assert fs.readonly is True
    data = fs.end_boot(stop_after=50)
    from shared.linkproto import INFO, STATUS

    request(data, 7, INFO)
    request(data, 8, STATUS)
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(KeyboardInterrupt):
        runpy.run_path(str(root / "code.py"), run_name="__main__")
    answers = replies(data)
    assert answers[7]["mode"].startswith("maintenance") and answers[7]["link_port"] == "data"
    assert answers[8]["mode"].startswith("maintenance")
    assert sorted(p.name for p in root.iterdir()) == before and fs.writes == []


def test_without_the_remount_every_write_fails_as_on_the_board(board):
    root, mods, fs, clock = board
    fs.end_boot()  # no boot.py: what a fresh board does with the firmware copied on
    with pytest.raises(OSError) as err:
        open(root / "records.bin", "wb")
    assert err.value.errno == errno.EROFS
    from boards import feather_rp2040_cp
    from netmeter.app import App
    from shared.config import resolve

    made, regmap = resolve(dict(CONFIG, board="feather_rp2040_cp"))
    hw = feather_rp2040_cp.build(made)
    with pytest.raises(OSError) as err:
        App(hw, made, regmap)
    assert err.value.errno == errno.EROFS
    with pytest.raises(RuntimeError, match="visible via USB"):
        mods["storage"].remount("/", readonly=False)  # only boot.py may


def test_a_failure_escaping_the_firmware_leaves_it_reachable_and_the_watchdog_fed(
    board, monkeypatch
):
    root, mods, fs, clock = board
    runpy.run_path(str(root / "boot.py"))
    data = fs.end_boot(stop_after=200)
    import netmeter.runner

    def broken(*args, **kwargs):
        mods["microcontroller"].watchdog.timeout = 8.0
        mods["microcontroller"].watchdog.mode = "RESET"  # armed before it failed
        raise ValueError("something nobody caught")

    monkeypatch.setattr(netmeter.runner, "main", broken)
    from shared.linkproto import INFO

    request(data, 3, INFO)
    feeds = mods["microcontroller"].watchdog.feeds
    with pytest.raises(KeyboardInterrupt):
        runpy.run_path(str(root / "code.py"), run_name="__main__")
    assert "something nobody caught" in replies(data)[3]["mode"]
    from netmeter.errlog import ErrorLog

    logged = ErrorLog(str(root / "errors.log")).entries()
    assert [e[1:3] for e in logged][-1:] == [("fw_failed", "ValueError: something nobody caught")]
    assert mods["microcontroller"].watchdog.feeds > feeds + 100  # no reset loop


OLD_CODE = [
    ("from hashlib import sha256", ImportError),  # shared/record.py before shared.port
    ("import hashlib\nhashlib.sha256(b'')", AttributeError),  # shared/auth.py
    ("import time\ntime.sleep_ms(5)", AttributeError),  # runner.run_forever
    ("import time\ntime.ticks_ms()", AttributeError),  # the ticks shims' MicroPython side
    ("import micropython\nmicropython.viper", AttributeError),  # pulsecounter's decorator
    ("import board, countio\ncountio.Counter(board.D6)", RuntimeError),  # the S0 default
]


@pytest.mark.parametrize("code,error", OLD_CODE, ids=[c.split("\n")[-1] for c, _ in OLD_CODE])
def test_the_fakes_refuse_what_circuitpython_refused(board, code, error):
    with pytest.raises(error):
        exec(code, {})
