"""The `host` command line: a table of commands, each a thin layer over library functions."""

import argparse
import sys
import time
from pathlib import Path

from host import mpy
from host.fleet import commands as _fleet_commands


class CommandError(Exception):
    """An expected failure: printed as one line on stderr, exit status 1, no traceback."""


def cmd_demo(args):
    """The whole chain on a simulated PV day: meter, board, mpremote, sync, table and plot."""
    if args.core:
        proc = mpy.run_script("demo_netting.py", capture=False)
        if proc.returncode != 0:
            raise CommandError(
                "the demo scenario failed inside MicroPython (exit %d)" % proc.returncode
            )
        return
    from host import demo

    try:
        hours, facts = demo.run(args.out)
    except demo.DemoError as exc:
        raise CommandError(str(exc)) from None
    lines, _ = demo.table(hours, facts)
    print("\n".join(lines), flush=True)
    wrong = demo.mismatches(hours)
    if wrong:
        raise CommandError(
            "the records differ from the meter's registers in %d of %d hours (first %s)"
            % (len(wrong), len(hours), wrong[0])
        )


def demo_arguments(p):
    p.add_argument(
        "--core",
        action="store_true",
        help="only the netting core in the MicroPython VM on a built-in scenario (seconds)",
    )
    p.add_argument("--out", default="demo-out", help="directory for history.db and day.png")


def cmd_sim_board(args):
    """Start a simulated board and meter: deploy the firmware with mpremote and run it."""
    from host.sim.board import BoardError
    from host.sim.run import Simulation
    from host.sim.site import HOUR_MS

    config = {"poll_period_s": args.poll, "rs485": {"baud": 115200}}
    directory = Path(args.dir)
    try:
        with Simulation(
            directory, config, map_name=args.map, start_ms=args.start * HOUR_MS
        ) as sim:
            print("board directory: %s" % directory)
            print("board console (USB serial): %s" % sim.board.device, flush=True)
            if args.realtime:
                print("running in real time; Ctrl-C stops the simulation", flush=True)
                while True:
                    sim.run_realtime(3600)
            end = sim.now_ms + int(args.hours * HOUR_MS)
            sim.run(end, args.poll * 1000)
            records = sim.records()
            print(
                "simulated %.1f h: %d interval records on the board" % (args.hours, len(records))
            )
            if args.stay:
                print("the board stays up for `host` commands; Ctrl-C stops it", flush=True)
                while True:
                    time.sleep(3600)
    except BoardError as exc:
        raise CommandError(str(exc)) from None


def sim_board_arguments(p):
    p.add_argument("--dir", default="sim-board", help="board directory (its flash)")
    p.add_argument("--map", default="generic", help="register map of the meter")
    p.add_argument("--poll", type=int, default=10, help="poll period in seconds")
    p.add_argument("--start", type=int, default=0, help="start hour of the simulated day")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours to run")
    p.add_argument("--realtime", action="store_true", help="run on the wall clock instead")
    p.add_argument("--stay", action="store_true", help="keep the board up after the run")


def cmd_deploy(args):
    """Compile the firmware, copy it to a board with mpremote and give it a new link key."""
    from host.configfile import load
    from host.deploy import DeployError, deploy, deploy_with_key

    config = load(args.config) if args.config else None
    try:
        if args.no_key:
            cfg = deploy(args.device, args.board, config)
            path = None
        else:
            cfg, path = deploy_with_key(
                args.device, args.board, config, args.device_id, args.key_dir
            )
    except (DeployError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    print(
        "deployed netmeter for %s to %s; reset the board to start it" % (cfg["board"], args.device)
    )
    if path is not None:
        print("device %s: new link key on the board and in %s" % (cfg["device_id"], path))


def deploy_arguments(p):
    p.add_argument("--device", required=True, help="serial port of the board, e.g. /dev/ttyACM0")
    p.add_argument("--board", required=True, help="board name: rp2_pico, esp32_s3, ...")
    p.add_argument("--config", help="initial config file (JSON or TOML) to install")
    p.add_argument(
        "--device-id", help="device id (default: the board's current one, else <board>-<hex>)"
    )
    p.add_argument("--key-dir", help="host key directory (default ~/.config/netmeter/keys)")
    p.add_argument("--no-key", action="store_true", help="do not provision a link key")


# --- commands that talk to a running board over the link ------------------------------


class State:
    """What a command works on, connected lazily: the link (injectable for tests)."""

    def __init__(self, args, link=None):
        self.args = args
        self._link = link
        self._info = None

    def link(self):
        if self._link is None:
            from host.link import Link

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

        if self.args.key:
            return load_key(self.args.key)
        path = key_path(self.args.key_dir or default_key_dir(), device_id)
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
                    "`host deploy` (keys live in --key-dir, default ~/.config/netmeter/keys)"
                    % device_id
                )
        return link

    def close(self):
        if self._link is not None:
            try:
                self._link.close()
            except Exception:  # noqa: BLE001 - a port that is already gone
                pass


def link_arguments(p, keyed=False):
    p.add_argument("--device", required=True, help="serial port of the board, e.g. /dev/ttyACM0")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    p.add_argument("--key", help="link key file of the device (mode 600)")
    p.add_argument("--key-dir", help="host key directory (default ~/.config/netmeter/keys)")


def cmd_sync(args):
    """Pull new records into the history database, checking CRC and hash chain, then ACK."""
    from host.history import History
    from host.sync import sync, text_progress

    state = args.state
    link = state.link()
    progress = text_progress(sys.stderr)
    with History(args.db) as history:
        try:
            result = sync(
                link,
                history,
                progress=progress,
                set_time=args.set_time,
                ack=not args.no_ack,
                key_loader=state.load_key,
            )
        finally:
            progress.end()
    if result.clock_step_ms is not None:
        print("clock set: stepped by %+d ms" % result.clock_step_ms)
    for line in result.summary():
        print(line)
    if result.ack_skipped:
        print("host: warning: %s" % result.ack_skipped, file=sys.stderr)
    if getattr(args, "publish", None):
        from host.fleet.commands import publish_after_sync

        with History(args.db) as history:
            publish_after_sync(args, history, result.device_id, link.info())
    if not args.set_time and not link.info().get("clock_set", True):
        print(
            "host: warning: the device clock is not set (records carry CLOCK_INVALID): "
            "run `host sync --set-time` or `host time sync`",
            file=sys.stderr,
        )


def sync_arguments(p):
    link_arguments(p)
    p.add_argument("--db", default="history.db", help="history database (SQLite)")
    p.add_argument("--set-time", action="store_true", help="set the device clock first")
    p.add_argument("--no-ack", action="store_true", help="leave the records on the device")
    from host.fleet.commands import sync_arguments as fleet_sync_arguments

    fleet_sync_arguments(p)


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
    print(
        "clock    %s%s"
        % (_utc(info.get("clock_ms", 0) / 1000), "" if info.get("clock_set") else "  (NOT SET)")
    )
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
    print(
        "key      %s, last counter %s"
        % ("installed" if info.get("has_key") else "NONE", info.get("counter"))
    )
    for i, p in enumerate(status.get("p", [])):
        print(
            "L%d       P %s W  Q %s var  S %s VA  quadrant %s"
            % (i + 1, p, status["q"][i], status["s"][i], status["quadrant"][i])
        )
    print(
        "pulses   import %s, export %s, rejected %s"
        % (*status.get("pulses", ["?", "?"]), status.get("rejected"))
    )
    print("modbus   %s" % _pairs(status.get("comm", {})))
    print("link     %s" % _pairs(status.get("link", {})))
    for entry in status.get("errors", []):
        print("error    %s" % _log_line(entry))


def _pairs(d):
    return ", ".join("%s %s" % kv for kv in sorted(d.items())) or "-"


def _utc(seconds):
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _log_line(entry):
    t_ms, code, detail, repeats = (list(entry) + [None] * 4)[:4]
    more = " (+%d repeats)" % repeats if repeats else ""
    return "%10.3f s  %-14s %s%s" % ((t_ms or 0) / 1000, code, detail, more)


def cmd_config_push(args):
    """Validate a config file and install it on the device (applied at its next boot)."""
    from host.configfile import load

    cfg = load(args.file)
    state = args.state
    current = state.info().get("device_id")
    if "device_id" not in cfg and current:
        cfg["device_id"] = current  # keep the id: the history is keyed by it
    elif current and cfg.get("device_id") != current:
        raise CommandError(
            "%s sets device_id %r but the device is %r: changing it splits the device's history; "
            "redeploy with --device-id to rename a device" % (args.file, cfg["device_id"], current)
        )
    state.keyed_link().put_config(cfg)
    print("config accepted by %s; it takes effect when the board restarts" % current)


def cmd_config_pull(args):
    """Print the device's config, or write it to --out as JSON."""
    from host.configfile import dump

    cfg = args.state.link().get_config()
    if args.out:
        dump(cfg, args.out)
        print("wrote %s" % args.out)
    else:
        import json

        print(json.dumps(cfg, indent=2, sort_keys=True))


def cmd_config_validate(args):
    """Check a config file against the device's schema, without a device."""
    from host.configfile import load

    load(args.file)
    print("%s: valid" % args.file)


def config_file_arguments(p, keyed=False):
    if keyed is not None:
        link_arguments(p)
    p.add_argument("file", help="config file: JSON (// and # comments allowed) or .toml")


def config_pull_arguments(p):
    link_arguments(p)
    p.add_argument("--out", help="write the config here (JSON) instead of printing it")


def cmd_time_sync(args):
    """Set the device clock to this computer's UTC time."""
    step = args.state.keyed_link().set_time()
    print("clock set: stepped by %+d ms" % step)


def cmd_reset_net(args):
    """Clear the meter's cumulative net register (signed; the interval is flagged)."""
    args.state.keyed_link().reset_net()
    print("net register reset")


def cmd_log(args):
    """Show the device's error log, oldest first."""
    entries = args.state.link().log(args.n)
    if not entries:
        print("error log is empty")
    for entry in entries:
        print(_log_line(entry))


def cmd_trace(args):
    """Show the last raw Modbus frames the device sent and received."""
    frames = args.state.link().trace(args.n)
    if not frames:
        print("no Modbus frames traced yet")
    for t_us, direction, data in frames:
        print("%14.6f s  %s  %s" % (t_us / 1e6, direction, data))


def count_arguments(p):
    link_arguments(p)
    p.add_argument(
        "-n",
        type=int,
        default=16,
        choices=range(0, 256),
        metavar="N",
        help="how many entries (0..255, default 16)",
    )


def _time_arg(text):
    """ISO 8601 (a date, or a date and time; UTC unless it carries an offset) -> Unix s."""
    import datetime

    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an ISO 8601 date or time" % text) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


def history_arguments(p, db_default="history.db"):
    p.add_argument("--db", default=db_default, help="history database (SQLite)")
    p.add_argument("--device", help="only this device id")
    p.add_argument("--from", dest="start", type=_time_arg, help="from this UTC time (ISO 8601)")
    p.add_argument("--to", dest="end", type=_time_arg, help="before this UTC time (ISO 8601)")


def cmd_export(args):
    """Write the history as CSV or JSON (energies in mWh and mvarh, times in UTC)."""
    from host.export import export
    from host.history import History

    with History(args.db, create=False) as history:
        rows = history.rows(args.device, args.start, args.end)
        if args.format == "espi":
            from host.fleet.commands import export_other as export  # noqa: F811
        if args.out:
            with open(args.out, "w", newline="") as out:
                n = export(rows, args.format, out)
            print("wrote %d records to %s" % (n, args.out), file=sys.stderr)
        else:
            export(rows, args.format, sys.stdout)


def export_arguments(p):
    history_arguments(p)
    from host.fleet.commands import EXPORT_FORMATS

    p.add_argument("--format", choices=("csv", "json", *EXPORT_FORMATS), default="csv")
    p.add_argument("--out", help="output file (default: standard output)")


def cmd_verify(args):
    """Recompute every CRC and the hash chain from the raw records; exit 1 on any problem."""
    from host.history import History

    with History(args.db, create=False) as history:
        problems = history.verify(args.device)
        n = history.count(args.device)
    for problem in problems:
        print(problem)
    if problems:
        raise CommandError("%s: %d problems in %d rows" % (args.db, len(problems), n))
    print("%s: %d records, CRCs and hash chains intact" % (args.db, n))


def verify_arguments(p):
    p.add_argument("--db", default="history.db", help="history database (SQLite)")
    p.add_argument("--device", help="only this device id")


def cmd_plot(args):
    """Draw import, export and net per interval into a PNG."""
    from host.history import History
    from host.plot import plot

    with History(args.db, create=False) as history:
        n = plot(list(history.rows(args.device, args.start, args.end)), args.out)
    print("wrote %s (%d intervals)" % (args.out, n))


def plot_arguments(p):
    history_arguments(p)
    p.add_argument("--out", required=True, help="PNG file to write")


def cmd_conformance(args):
    """Run the conformance scenarios against the simulated meter's truth; exit 1 on a failure."""
    from host.conformance import report, runner
    from host.conformance.scenarios import SCENARIOS

    if args.scenario not in ("all", *SCENARIOS):
        raise CommandError(
            "no scenario %r (known: all, %s)" % (args.scenario, ", ".join(SCENARIOS))
        )
    if args.pulse_port and not args.device:
        raise CommandError("--pulse-port needs --device: it feeds a real board's S0 inputs")
    if args.device:
        results = _conformance_on_device(args, runner)
    else:
        results = runner.run_suite(args.scenario, deploy_with_mpremote=args.mpremote)
    print(report.table(results))
    if args.report:
        print("report: %s" % report.write(results, args.report))
    if not all(r.passed for r in results):
        raise CommandError("%d scenario(s) failed" % sum(1 for r in results if not r.passed))


def _conformance_on_device(args, runner):
    """The host plays the meter on --meter-port against the board on --device, in real time;
    with --pulse-port a pulse feeder board drives the board's S0 inputs."""
    from host.conformance.pulsefeed import FeederError
    from host.conformance.scenarios import select

    if not args.meter_port:
        raise CommandError(
            "--device needs --meter-port: the USB RS-485 adapter, e.g. /dev/ttyUSB0"
        )
    for port, what in (
        (args.meter_port, "the RS-485 adapter"),
        (args.pulse_port, "the pulse feeder"),
    ):
        if port and not Path(port).exists():
            raise CommandError("%s does not exist: is %s plugged in?" % (port, what))
    pulses = bool(args.pulse_port)
    scenarios = select(args.scenario)
    if args.scenario == "all":
        scenarios = [s for s in scenarios if _runs_on_hardware(runner, s, pulses)]
    else:
        try:
            runner.hardware_config(scenarios[0], pulses)
        except runner.HardwareError as exc:
            raise CommandError(str(exc)) from None
    state = args.state
    link = state.link()
    link.key = state.load_key(state.info().get("device_id") or "?")
    feeder = _start_feeder(args.pulse_port) if pulses else None
    results = []
    try:
        for scenario in scenarios:
            print(
                "%s: %.0f min in real time ..." % (scenario.name, scenario.hours * 60), flush=True
            )
            try:
                results.append(
                    runner.run_on_device(scenario, link, args.meter_port, say=print, feeder=feeder)
                )
            except (runner.HardwareError, FeederError) as exc:
                raise CommandError(str(exc)) from None
    finally:
        if feeder is not None:
            feeder.close()
    return results


def _start_feeder(port):
    from host.conformance.pulsefeed import FeederError, start_on_board
    from host.deploy import DeployError

    try:
        return start_on_board(port)
    except (FeederError, DeployError) as exc:
        raise CommandError(str(exc)) from None


def _runs_on_hardware(runner, scenario, pulses=False):
    try:
        runner.hardware_config(scenario, pulses)
    except runner.HardwareError:
        return False
    return True


def conformance_arguments(p):
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="the simulated board (default)")
    where.add_argument("--device", help="a real board's port: the host plays its meter")
    p.add_argument("--meter-port", help="with --device: the USB RS-485 adapter to the board")
    p.add_argument(
        "--pulse-port",
        help="with --device: the USB serial port of a pulse feeder board (feeder/) wired to "
        "the board's S0 inputs; the host deploys and starts it and streams the S0 edges",
    )
    p.add_argument("--timeout", type=float, default=2.0, help="with --device: link reply wait")
    p.add_argument("--key", help="with --device: its link key file (to set its clock)")
    p.add_argument("--key-dir", help="host key directory (default ~/.config/netmeter/keys)")
    p.add_argument("--scenario", default="all", help="a scenario name, or all")
    p.add_argument("--report", help="directory for results.json and a PNG per scenario")
    p.add_argument("--mpremote", action="store_true", help="deploy each run with mpremote")


COMMANDS = {
    "deploy": (cmd_deploy, deploy_arguments),
    "demo": (cmd_demo, demo_arguments),
    "sim board": (cmd_sim_board, sim_board_arguments),
    "sync": (cmd_sync, sync_arguments),
    "status": (cmd_status, link_arguments),
    "config push": (cmd_config_push, config_file_arguments),
    "config pull": (cmd_config_pull, config_pull_arguments),
    "config validate": (cmd_config_validate, lambda p: config_file_arguments(p, keyed=None)),
    "time sync": (cmd_time_sync, link_arguments),
    "reset-net": (cmd_reset_net, link_arguments),
    "log": (cmd_log, count_arguments),
    "trace": (cmd_trace, count_arguments),
    "export": (cmd_export, export_arguments),
    "verify": (cmd_verify, verify_arguments),
    "plot": (cmd_plot, plot_arguments),
    "conformance": (cmd_conformance, conformance_arguments),
}
_fleet_commands.register(COMMANDS)


def build_parser():
    parser = argparse.ArgumentParser(prog="host", description="netmeter host companion")
    sub = parser.add_subparsers(dest="command", required=True)
    groups = {}
    for name, (handler, add_arguments) in COMMANDS.items():
        words = name.split()
        target = sub
        if len(words) == 2:  # "sim board": a command group and its command
            if words[0] not in groups:
                group = sub.add_parser(words[0], help="%s commands" % words[0])
                groups[words[0]] = group.add_subparsers(dest="subcommand", required=True)
            target = groups[words[0]]
        p = target.add_parser(words[-1], help=handler.__doc__.splitlines()[0])
        add_arguments(p)
        p.set_defaults(handler=handler)
    return parser


def expected_errors():
    """The exception classes that are a person's problem, not a bug: one line each."""
    import sqlite3

    import serial

    from host.configfile import ConfigFileError
    from host.history import HistoryError
    from host.link import LinkError
    from host.sync import SyncError

    return (
        CommandError,
        LinkError,
        SyncError,
        HistoryError,
        ConfigFileError,
        serial.SerialException,
        sqlite3.Error,
        OSError,
    )


def describe(exc, args):
    """The one line for an expected error."""
    import serial

    if isinstance(exc, serial.SerialException) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) == 5  # EIO: unplugged
    ):
        return "lost the connection to %s (unplugged?): %s" % (
            getattr(args, "device", "the board"),
            exc,
        )
    if isinstance(exc, OSError) and exc.filename:
        return "%s: %s" % (exc.filename, exc.strerror)
    return str(exc) or type(exc).__name__


def main(argv=None, link=None):
    """Run one command; link: an already connected host.link.Link (tests inject one)."""
    args = build_parser().parse_args(argv)
    args.state = State(args, link)
    errors = expected_errors()
    try:
        args.handler(args)
    except errors as exc:
        print("host: %s" % describe(exc, args), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("host: interrupted", file=sys.stderr)
        return 130
    finally:
        if link is None:
            args.state.close()
    return 0
