"""Deploy the firmware: compile to .mpy with mpy-cross, copy with the real mpremote."""

import json
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


def stage(directory):
    """Compile every firmware module into directory/lib as .mpy; copy main.py as source."""
    directory = Path(directory)
    for package, src in PACKAGES.items():
        for py in sorted(src.rglob("*.py")):
            out = directory / "lib" / package / py.relative_to(src).with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                # -s: tracebacks name the module's path on the board, not on this machine.
                [
                    _tool("mpy-cross"),
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
    with tempfile.TemporaryDirectory() as tmp:
        staged = stage(tmp)
        (staged / "config.json").write_text(json.dumps(cfg))
        mpremote(
            device,
            "fs", "-r", "cp", str(staged / "lib"), ":lib",
            "+", "fs", "cp", str(staged / "main.py"), ":main.py",
            "+", "fs", "cp", str(staged / "config.json"), ":config.json",
        )  # fmt: skip
    return cfg
