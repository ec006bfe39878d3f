"""Commands that talk to a running board over the link: status, time sync, reset-net, log,
trace, and deploy (mpremote). State opens the link lazily and finds the device's key."""

import datetime
import os
import sys

from host.errors import CommandError

KEY_DIR_HELP = (
    "host key directory (default: $NETMETER_KEY_DIR if set, else ~/.config/netmeter/keys%s)"
)


def key_dir_help():
    where = os.environ.get("NETMETER_KEY_DIR")
    return KEY_DIR_HELP % ("; now %s" % where if where else "")


class State:
    """What a command works on, connected lazily: the link (injectable for tests)."""

    def __init__(self, args, link=None):
        self.args = args
        self._link = link
        self._info = None

    def link(self):
        if self._link is None:
            from host.link import Link
            from host.ports import data_port_beside

            data = data_port_beside(self.args.device)
            if data is not None:
                print(
                    "host: %s is the board's CircuitPython console (REPL); netmeter's link is "
                    "on its data port: --device %s" % (self.args.device, data),
                    file=sys.stderr,
                )
            self._link = Link.open(self.args.device, timeout=self.args.timeout)
        return self._link

    def info(self):
        if self._info is None:
            self._info = self.link().info()
        return self._info

    def load_key(self, device_id):
        """The link key for device_id: --key FILE, else <key dir>/<device_id>.key."""
        from host.deploy import default_key_dir, key_path
        from host.link import load_key

        if getattr(self.args, "key", None):
            return load_key(self.args.key)
        path = key_path(getattr(self.args, "key_dir", None) or default_key_dir(), device_id)
        if not path.exists():
            return None
        return load_key(path)

    def keyed_link(self):
        """The link with the device's key, for a command that changes the device."""
        link = self.link()
        if link.key is None:
            device_id = self.info().get("device_id") or "?"
            link.key = self.load_key(device_id)
            if link.key is None:
                raise CommandError(
                    "no link key for device %s: give --key FILE, or provision one with "
                    "`host deploy` (keys live in --key-dir, default $NETMETER_KEY_DIR or "
                    "~/.config/netmeter/keys)" % device_id
                )
        return link

    def close(self):
        if self._link is not None:
            try:
                self._link.close()
            except Exception:  # noqa: BLE001 - a port that is already gone
                pass


def link_arguments(p):
    p.add_argument("--device", required=True, help="serial port of the board, e.g. /dev/ttyACM0")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    p.add_argument("--key", help="link key file of the device (mode 600)")
    p.add_argument("--key-dir", help=key_dir_help())


def count_arguments(p):
    link_arguments(p)
    p.add_argument(
        "-n",
        type=int,
        default=16,
        choices=range(0, 256),
        metavar="N",
        help="how many entries (0..255)",
    )


def cmd_deploy(args):
    """Compile the firmware and copy it to a board (mpremote; a CircuitPython board's
    CIRCUITPY drive), keeping the board's identity and link key (or giving it a new one)."""
    from host.configfile import load
    from host.deploy import (
        DeployError,
        deploy,
        deploy_with_key,
        end_maintenance,
        keep_identity,
        read_board,
        uses_drive,
    )

    config = load(args.config) if args.config else None
    drive = uses_drive(args.board)
    try:
        if not args.device and not drive:
            raise CommandError("--device is needed for %s: its serial port" % args.board)
        if args.no_key:
            identity = read_board(args.device, args.board, args.drive)
            config = keep_identity(
                args.device or args.drive, args.board, config, args.device_id, args.force, identity
            )
            cfg = deploy(args.device, args.board, config, drive=args.drive)
            path, kept = None, False
        else:
            cfg, path, kept = deploy_with_key(
                args.device,
                args.board,
                config,
                args.device_id,
                args.key_dir,
                args.force,
                args.new_key,
                args.drive,
            )
        restart_ms = None if drive else end_maintenance(args.device)
    except (DeployError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if "next" in cfg:  # a CircuitPython drive
        print(
            "deployed netmeter for %s to %s; next: %s" % (cfg["board"], cfg["drive"], cfg["next"])
        )
    else:
        if restart_ms is None:
            start = "reset the board to start it"
        else:
            start = "its watchdog restarts it into the new firmware within %d s" % (
                -(-restart_ms // 1000)
            )
        print("deployed netmeter for %s to %s; %s" % (cfg["board"], args.device, start))
    if path is not None:
        what = "kept its link key, the one in" if kept else "new link key on the board and in"
        print("device %s: %s %s" % (cfg["device_id"], what, path))


def deploy_arguments(p):
    p.add_argument("--device", help="serial port of a MicroPython board, e.g. /dev/ttyACM0")
    p.add_argument(
        "--drive", help="CircuitPython: the CIRCUITPY drive's mount point (default: found)"
    )
    p.add_argument("--board", required=True, help="board name: rp2_pico, esp32_s3, ...")
    p.add_argument("--config", help="initial config file (JSON or TOML) to install")
    p.add_argument(
        "--device-id", help="device id (default: the board's current one, else <board>-<hex>)"
    )
    p.add_argument("--key-dir", help=key_dir_help())
    p.add_argument("--no-key", action="store_true", help="do not provision a link key")
    p.add_argument(
        "--new-key",
        action="store_true",
        help="a fresh link key even when the board's matches this host's (default: keep it)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="change the device id although unsynced records remain: they stay on the board "
        "under the old chain; `host sync` takes them where it can prove that chain, else "
        "quarantines them (docs/host.md, Deploy and Chain breaks)",
    )


def cmd_status(args):
    """Show what the device says about itself and its meter (INFO and STATUS)."""
    link = args.state.link()
    info = args.state.info()
    status = link.status()
    first, next_seq = info.get("first_seq"), info.get("next_seq")
    held = (next_seq - first) if first is not None and next_seq is not None else 0
    print(
        "device   %s (%s, firmware %s, link protocol %s)"
        % (info.get("device_id") or "?", info.get("board"), info.get("fw"), info.get("proto"))
    )
    if info.get("clock_set"):
        print("clock    %s" % utc(info.get("clock_ms", 0) / 1000))
    else:  # status only looks; sync sets an unset clock (docs/timekeeping.md)
        print("clock    NOT SET: readings are held, no interval closes; `host sync` sets it")
    if info.get("rtc"):
        print("rtc      %s" % info["rtc"])
    print(
        "records  %d held, seq %s..%s" % (held, first, None if next_seq is None else next_seq - 1)
    )
    print(
        "config   hash %s%s"
        % (
            info.get("config_hash"),
            "  (new config waiting for a reboot)" if info.get("config_pending") else "",
        )
    )
    if info.get("config_state", "ok") != "ok":
        print("config   %s" % info["config_state"])
    if info.get("mode"):
        print("mode     %s" % info["mode"])
    if info.get("link_port") == "console" and _circuitpython(info.get("board")):
        print("port     the console, shared with the REPL: reset the board to get its data port")
    print(
        "key      %s, last counter %s"
        % ("installed" if info.get("has_key") else "NONE", info.get("counter"))
    )
    for i, p in enumerate(status.get("p", [])):
        print(
            "L%d       P %s  Q %s  S %s  quadrant %s"
            % (
                i + 1,
                quantity(p, "W"),
                quantity(status["q"][i], "var"),
                quantity(status["s"][i], "VA"),
                status["quadrant"][i] if status["quadrant"][i] is not None else "n/a",
            )
        )
    print(
        "pulses   import %s, export %s, rejected %s"
        % (*status.get("pulses", ["?", "?"]), status.get("rejected"))
    )
    print("modbus   %s" % pairs(status.get("comm", {})))
    print("link     %s" % pairs(status.get("link", {})))
    for entry in status.get("errors", []):
        print("error    %s" % log_line(entry))


def quantity(value, unit):
    """'123 W', or 'n/a' for a value the meter did not give (never 'None W')."""
    return "n/a" if value is None else "%s %s" % (value, unit)


def pairs(d):
    return ", ".join("%s %s" % kv for kv in sorted(d.items())) or "-"


def utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


CLOCK_SET_AFTER_MS = 946_684_800_000  # 2000-01-01: a device time before it is an unset clock


def log_line(entry):
    """One error log entry: its time in UTC once the board's clock was set, else in seconds
    since the board booted (entries of older firmware carry no base: told by size)."""
    t_ms, code, detail, repeats, base = (list(entry) + [None] * 5)[:5]
    t_ms = t_ms or 0
    more = " (+%d repeats)" % repeats if repeats else ""
    if base == "utc" or (base is None and t_ms >= CLOCK_SET_AFTER_MS):
        when = "%s.%03d UTC" % (utc(t_ms // 1000)[:-4], t_ms % 1000)
    else:
        when = "%.3f s after boot (clock not set)" % (t_ms / 1000)
    return "%s  %-14s %s%s" % (when, code, detail, more)


def duration(ms):
    """A clock step for a person: '+31692961093 ms (+366 d 19 h 36 min 1 s)'."""
    sign = "-" if ms < 0 else "+"
    rest = abs(ms) // 1000
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if rest >= size:
            parts.append("%d %s" % (rest // size, unit))
            rest %= size
    if not parts:
        return "%+d ms" % ms
    return "%+d ms (%s%s)" % (ms, sign, " ".join(parts))


def cmd_time_sync(args):
    """Set the device clock to this computer's UTC time (signed with the device's key)."""
    step = args.state.keyed_link().set_time()
    print("clock set: stepped by %s" % duration(step))


def cmd_reset_net(args):
    """Clear the meter's cumulative net register (signed; the interval is flagged)."""
    args.state.keyed_link().reset_net()
    print("net register reset")


def cmd_log(args):
    """Show the device's error log, oldest first (times UTC; 'clock unset' before it was set)."""
    entries = args.state.link().log(args.n)
    if not entries:
        print("error log is empty")
    for entry in entries:
        print(log_line(entry))


def cmd_trace(args):
    """Show the last raw Modbus frames the device sent and received.

    Times are the device's microsecond counter (since its boot), not UTC."""
    frames = args.state.link().trace(args.n)
    if not frames:
        print("no Modbus frames traced yet")
        return
    print("# start: s since the board booted; tx: sent to the meter, rx: received (a reply, or")
    print("# noise), one entry per frame: it ends at 3.5 characters of silence or a tx")
    print("%14s  %-3s  %5s  %s" % ("start s", "dir", "bytes", "data (hex)"))
    for t_us, direction, data in frames:
        print("%14.6f  %-3s  %5d  %s" % (t_us / 1e6, direction, len(data) // 2, data))


def _circuitpython(board):
    from host.deploy import uses_drive

    try:
        return uses_drive(board)
    except ValueError:  # a board this host does not know
        return False
