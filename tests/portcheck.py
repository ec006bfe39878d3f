"""Type-check the board code against each port's published stubs (mypy).

    python tests/portcheck.py install   # make does this: each port's stubs into .stubs/<port>
    python tests/portcheck.py check     # every port; exit 1 on a finding

The stubs are pinned in pyproject.toml ([tool.netmeter.stubs]) and installed apart, one
directory per port, because they conflict (each defines time, hashlib, micropython...).
MicroPython's packages are flat .pyi files plus micropython-stdlib-stubs' stdlib/, used as
mypy's typeshed. circuitpython-stubs is a set of PEP 561 "X-stubs" packages, which mypy lets
the CPython standard library shadow (hashlib.sha256 would pass): they are laid out flat as X/
on MYPYPATH, which comes before the standard library, with the Feather RP2040's board pins.

What counts as a finding is what the port would refuse at run time: a module, name or
keyword argument it does not have (error codes in API_CODES). The untyped firmware would
otherwise drown those in inference noise that says nothing about the port.
"""

import builtins
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / ".stubs"
CP_BOARD = "adafruit_feather_rp2040"

# Modules every board runs: the firmware, shared/, the board registry and common drivers.
COMMON = [
    "firmware/netmeter",
    "shared",
    "boards/__init__.py",
    "boards/drivers/clock.py",
    "boards/drivers/console.py",
    "boards/drivers/rs485.py",
    "boards/drivers/watchdog.py",
]
# port -> (what its board adds, what it never loads)
PORTS = {
    "circuitpython": (
        [
            "boards/feather_rp2040_cp.py",
            "boards/drivers/countio_pulses.py",
            "boards/drivers/usbcdc.py",
            "circuitpython/boot.py",
            "circuitpython/code.py",
        ],
        # Native code: CircuitPython refuses @micropython.viper; its board counts with countio.
        ["firmware/netmeter/pulsecounter.py"],
    ),
    "rp2": (
        [
            "firmware/main.py",
            "boards/rp2_pico.py",
            "boards/drivers/irqpins.py",
            "boards/drivers/machine_board.py",
        ],
        [],
    ),
    "esp32": (
        [
            "firmware/main.py",
            "boards/esp32_s3.py",
            "boards/drivers/pcnt.py",
            "boards/drivers/machine_board.py",
        ],
        [],
    ),
}
API_CODES = ("attr-defined", "import-not-found", "name-defined", "call-arg")
_FINDING = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<text>.*)  \[(?P<code>[\w-]+)\]$"
)
_ATTR_OF = re.compile(r'^"(\w+)" has no attribute')


def pinned(port):
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["netmeter"]["stubs"][port]


def port_dir(port):
    return STUBS / port


def install(port, python=sys.executable):
    """pip install the port's pinned stubs into .stubs/<port>/pkgs; lay out .stubs/<port>/path."""
    base = port_dir(port)
    stamp = base / ".installed"
    want = "\n".join(pinned(port))
    if stamp.exists() and stamp.read_text() == want:
        return base
    shutil.rmtree(base, ignore_errors=True)
    pkgs = base / "pkgs"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(pkgs), *pinned(port)],
        check=True,
    )  # fmt: skip
    path = base / "path"
    if port == "circuitpython":
        path.mkdir(parents=True)
        for stub in pkgs.glob("*-stubs"):
            shutil.copytree(stub, path / stub.name[: -len("-stubs")])
        board = pkgs / "board_definitions" / CP_BOARD / "__init__.pyi"
        shutil.copyfile(board, path / "board" / "__init__.pyi")
    else:
        path.symlink_to("pkgs")
    stamp.write_text(want)
    return base


def run_mypy(port, files):
    """mypy on files against the port's stubs; returns its output lines."""
    base = port_dir(port)
    if not (base / ".installed").exists():
        raise RuntimeError("no stubs for %s in %s: run `make stubs`" % (port, base))
    mypy_path = [str(base / "path"), str(ROOT / "firmware"), str(ROOT)]
    cmd = [
        sys.executable, "-m", "mypy", "--no-incremental", "--check-untyped-defs",
        "--explicit-package-bases", "--show-error-codes", "--no-error-summary",
        "--no-color-output", "--hide-error-context", "--python-version", "3.12",
    ]  # fmt: skip
    if port != "circuitpython":  # MicroPython's own standard library, not CPython's
        cmd += ["--custom-typeshed-dir", str(base / "pkgs")]
    env = dict(os.environ, MYPYPATH=os.pathsep.join(mypy_path))
    proc = subprocess.run(
        cmd + [str(f) for f in files], cwd=str(ROOT), env=env, capture_output=True, text=True
    )
    return (proc.stdout + proc.stderr).splitlines()


def findings(port, files, own=None):
    """The port-API findings in our files: [(path, line, code, text)]."""
    own = own or [Path(f).resolve() for f in files]
    out = []
    for line in run_mypy(port, files):
        m = _FINDING.match(line)
        if m is None or m["code"] not in API_CODES:
            continue
        path = (ROOT / m["path"]).resolve()
        if not any(path == o or o in path.parents for o in own):
            continue  # inside the stubs themselves
        if m["code"] == "attr-defined" and not port_type(m["text"]):
            continue
        name = path.relative_to(ROOT) if ROOT in path.parents else path
        out.append((str(name), int(m["line"]), m["code"], m["text"]))
    return out


def port_type(text):
    """True if an attr-defined finding is about the port's API: a module's attribute, or an
    attribute of a type the stubs define; not one of our own classes or a builtin, where the
    untyped code leaves mypy guessing."""
    m = _ATTR_OF.match(text)
    return m is None or m.group(1) not in our_classes() | set(dir(builtins))


_classes = set()


def our_classes():
    if not _classes:
        for d in ("firmware", "shared", "boards", "circuitpython"):
            for p in (ROOT / d).rglob("*.py"):
                _classes.update(re.findall(r"^\s*class (\w+)", p.read_text(), re.M))
    return _classes


def port_files(port):
    extra, never = PORTS[port]
    skip = {ROOT / n for n in never}
    files = []
    for name in COMMON + extra:
        p = ROOT / name
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return [f for f in files if f not in skip]


def main(argv):
    if argv[:1] == ["install"]:
        for port in PORTS:
            install(port)
        return 0
    if argv[:1] == ["check"]:
        bad = 0
        for port in PORTS:
            for path, line, code, text in findings(port, port_files(port)):
                print("%s:%d: %s (on %s) [%s]" % (path, line, text, port, code))
                bad += 1
        return 1 if bad else 0
    print(__doc__.split("\n\n")[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
