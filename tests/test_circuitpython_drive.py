"""`host deploy --board feather_rp2040_cp` onto a directory laid out like a fresh CIRCUITPY
drive (what CircuitPython 10 writes on first boot)."""

import errno
import json
import stat
from pathlib import Path

import pytest

from host import drive
from host.cli import main
from host.ports import CONSOLE, DATA, circuitpython_ports, data_port_beside

BOOT_OUT = (
    "Adafruit CircuitPython 10.2.1 on 2026-10-01; Adafruit Feather RP2040 with rp2040\n"
    "Board ID:adafruit_feather_rp2040\nUID:E66138528339A42C\n"
)


@pytest.fixture
def circuitpy(tmp_path):
    root = tmp_path / "CIRCUITPY"
    (root / "lib").mkdir(parents=True)
    (root / "boot_out.txt").write_text(BOOT_OUT)
    (root / "code.py").write_text('print("Hello World!")\n')
    (root / "settings.toml").write_text("# the user's\n")
    return root


def deploy(root, tmp_path, *extra):
    argv = ["deploy", "--board", "feather_rp2040_cp", "--drive", str(root)]
    return main(argv + ["--key-dir", str(tmp_path / "keys"), *extra])


def test_a_fresh_drive_gets_the_firmware_boot_code_config_and_key(circuitpy, tmp_path, capsys):
    assert deploy(circuitpy, tmp_path) == 0
    out = capsys.readouterr().out
    assert "eject" in out and "reset" in out and str(circuitpy) in out
    assert "netmeter" in (circuitpy / "code.py").read_text()  # not "Hello World!" any more
    assert "usb_cdc.enable(console=True, data=True)" in (circuitpy / "boot.py").read_text()
    for name in ("netmeter/app.py", "shared/record.py", "shared/port.py",
                 "boards/feather_rp2040_cp.py", "boards/drivers/usbcdc.py"):  # fmt: skip
        src = Path(drive.ROOT, "firmware" if name.startswith("netmeter") else "", name)
        assert (circuitpy / "lib" / name).read_bytes() == src.read_bytes(), name
    # Native code is a SyntaxError on CircuitPython: not shipped.
    assert not (circuitpy / "lib" / "netmeter" / "pulsecounter.py").exists()
    assert not list(circuitpy.rglob("*.mpy")) and not list(circuitpy.rglob("*.tmp"))
    cfg = json.loads((circuitpy / "config.json").read_text())
    assert cfg["board"] == "feather_rp2040_cp" and cfg["device_id"].startswith("feather-rp2040")
    key_file = tmp_path / "keys" / ("%s.key" % cfg["device_id"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (circuitpy / "link.key").read_text() == key_file.read_text()
    assert (circuitpy / "settings.toml").read_text() == "# the user's\n"


def test_a_redeploy_keeps_the_device_id_and_the_records_and_drops_stale_modules(
    circuitpy, tmp_path
):
    assert deploy(circuitpy, tmp_path) == 0
    device_id = json.loads((circuitpy / "config.json").read_text())["device_id"]
    # A record the firmware stored under that id (the redeploy reads who the board is from it).
    from storetest import record

    from netmeter.repair import open_store
    from netmeter.store import RecordStore

    store = RecordStore(str(circuitpy / "records"), device_id)
    open_store(store)
    store.append(record(0))
    (segment,) = (circuitpy / "records").glob("*.seg")
    held = segment.read_bytes()
    stale = circuitpy / "lib" / "netmeter" / "pulse_counter.py"  # a name an old deploy used
    stale.write_text("# old\n")
    assert deploy(circuitpy, tmp_path) == 0
    assert json.loads((circuitpy / "config.json").read_text())["device_id"] == device_id
    assert segment.read_bytes() == held
    assert not stale.exists()


def test_a_drive_that_is_not_circuitpython_is_refused_in_one_line(tmp_path, capsys):
    other = tmp_path / "USBSTICK"
    other.mkdir()
    assert deploy(other, tmp_path) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a CircuitPython drive" in err and "--drive" in err
    assert list(other.iterdir()) == []


def test_a_drive_the_firmware_owns_is_refused_with_the_way_to_maintenance_mode(
    circuitpy, tmp_path, capsys, monkeypatch
):
    # Running mode: the computer's mount of CIRCUITPY is read-only (EROFS on every write).
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    assert deploy(circuitpy, tmp_path, "--no-key") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Read-only" in err and "A0 to GND" in err
    assert (circuitpy / "code.py").read_text() == 'print("Hello World!")\n'


def test_the_drive_is_found_by_its_boot_out_txt(circuitpy, monkeypatch):
    monkeypatch.setattr(drive, "MOUNT_GLOBS", ())
    monkeypatch.setattr(
        drive, "_mount_points", lambda: ["/", str(circuitpy.parent), str(circuitpy)]
    )
    assert drive.find_drive() == circuitpy
    monkeypatch.setattr(drive, "_mount_points", lambda: [str(circuitpy), str(circuitpy)])
    assert drive.find_drive() == circuitpy
    monkeypatch.setattr(drive, "_mount_points", lambda: [])
    with pytest.raises(drive.DriveError, match="no CIRCUITPY drive is mounted"):
        drive.find_drive()


def test_a_micropython_board_still_needs_its_serial_port(tmp_path, capsys):
    assert main(["deploy", "--board", "rp2_pico", "--no-key"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--device" in err


class Port:
    def __init__(self, device, interface, serial="E661385283"):
        self.device = device
        self.interface = interface
        self.description = "Feather RP2040 - " + interface
        self.serial_number = serial


def test_the_host_tells_the_console_from_the_data_port():
    ports = [
        Port("/dev/ttyACM0", "CircuitPython CDC control"),
        Port("/dev/ttyACM1", "CircuitPython CDC2 control"),
        Port("/dev/ttyACM2", "Board CDC", serial="PICO"),
    ]
    assert circuitpython_ports(ports) == [
        ("/dev/ttyACM0", CONSOLE, "E661385283"),
        ("/dev/ttyACM1", DATA, "E661385283"),
    ]
    assert data_port_beside("/dev/ttyACM0", ports) == "/dev/ttyACM1"
    assert data_port_beside("/dev/ttyACM1", ports) is None
    assert data_port_beside("/dev/ttyACM2", ports) is None


class FakeLink:
    """What host status reads from a CircuitPython board in maintenance mode, on its console."""

    def info(self):
        return {"board": "feather_rp2040_cp", "device_id": "feather-cp-1", "fw": "0.1.0",
                "proto": 1, "first_seq": 0, "next_seq": 0, "clock_ms": 0, "link_port": "console",
                "mode": "maintenance: the drive is writable by the computer"}  # fmt: skip

    def status(self):
        return {"mode": "maintenance", "p": [], "comm": {}, "errors": []}

    def close(self):
        pass


def test_status_shows_the_mode_and_warns_about_the_console(capsys):
    assert main(["status", "--device", "/dev/ttyACM0"], link=FakeLink()) == 0
    out = capsys.readouterr().out
    assert "mode     maintenance: the drive is writable by the computer" in out
    assert "port     the console" in out


def test_a_command_given_the_console_port_names_the_data_port(monkeypatch, capsys):
    import serial.tools.list_ports

    ports = [
        Port("/dev/ttyACM0", "CircuitPython CDC control"),
        Port("/dev/ttyACM1", "CircuitPython CDC2 control"),
    ]
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda: ports)
    assert main(["status", "--device", "/dev/ttyACM0", "--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "console (REPL)" in err and "--device /dev/ttyACM1" in err
