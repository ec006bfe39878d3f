"""Simulation commands: `host demo` (the whole chain on a simulated day) and `host sim board`
(a simulated board and meter to try the other commands on)."""

import time
from pathlib import Path

from host.errors import CommandError


def cmd_demo(args):
    """The whole chain on a simulated PV day: meter, board, mpremote, sync, table and plot."""
    if args.core:
        from host import mpy

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


STATE_FILE = ".simulation.json"  # in the board directory: where its clock stood at exit


def cmd_sim_board(args):
    """Start a simulated board and meter: deploy the firmware with mpremote and run it.

    The first start deploys the firmware with a new link key (in --key-dir, so signed
    commands such as `host time sync` work on the board); a later start with the same
    --dir boots what is there, keeping the config, device id, key, records and the board's
    clock where the last run left it."""
    import json

    from host.deploy import default_key_dir, deploy_with_key
    from host.sim.board import BoardError
    from host.sim.run import Simulation
    from host.sim.site import HOUR_MS

    directory = Path(args.dir)
    key_dir = Path(args.key_dir) if args.key_dir else default_key_dir()
    state_file = directory / STATE_FILE
    installed = (directory / "main.py").exists() and (directory / "config.json").exists()
    start_ms = args.start * HOUR_MS
    if installed:
        try:
            config = json.loads((directory / "config.json").read_text())
            saved = json.loads(state_file.read_text()) if state_file.exists() else {}
        except (OSError, ValueError) as exc:
            raise CommandError(
                "%s holds a board that cannot be resumed (%s): give a new --dir" % (directory, exc)
            ) from None
        start_ms = saved.get("now_ms", start_ms)
        map_name = (config.get("meter") or {}).get("MAP", args.map)
    else:
        config = {"poll_period_s": args.poll, "rs485": {"baud": 115200}}
        map_name = args.map
    keys = {}

    def deployer(device, board, cfg):
        cfg, path, _kept = deploy_with_key(device, board, cfg, None, key_dir)
        keys["path"], keys["device_id"] = path, cfg["device_id"]

    sim = Simulation(directory, config, map_name=map_name, start_ms=start_ms)
    try:
        try:
            sim.start(deploy_firmware=not installed, deployer=deployer)
        except BoardError as exc:
            raise CommandError(str(exc)) from None
        print("board directory: %s (%s)" % (directory, "resumed" if installed else "new"))
        print("board console (USB serial): %s" % sim.board.device, flush=True)
        if keys:
            print("device %s: link key in %s" % (keys["device_id"], keys["path"]), flush=True)
        run_board(sim, args, HOUR_MS)
    finally:
        if sim.board is not None:
            save_state(sim, state_file)
        sim.stop()


def run_board(sim, args, hour_ms):
    """Run the simulation as asked, watching that the board process stays alive."""
    from host.sim.board import BoardError

    try:
        if args.realtime:
            print("running in real time; Ctrl-C stops the simulation", flush=True)
            while True:
                sim.run_realtime(5)
                board_alive(sim)
        end = sim.now_ms + int(args.hours * hour_ms)
        sim.run(end, sim.config.get("poll_period_s", args.poll) * 1000)
        records = sim.records()
        print("simulated %.1f h: %d interval records on the board" % (args.hours, len(records)))
        if args.stay:
            print("the board stays up for `host` commands; Ctrl-C stops it", flush=True)
            while True:
                time.sleep(0.5)
                board_alive(sim)
    except BoardError as exc:
        board_alive(sim)
        raise CommandError(str(exc)) from None


def board_alive(sim):
    """A CommandError naming the exit status if the board's process has ended."""
    code = sim.board.proc.poll() if sim.board.proc is not None else None
    if code is not None:
        tail = bytes(sim.board.console_log[-300:]).decode(errors="replace").strip()
        last = tail.splitlines()[-1] if tail else "nothing on its console"
        raise CommandError(
            "the simulated board's process ended (exit status %d; last console line: %s); "
            "start it again with the same --dir to resume" % (code, last)
        )


def save_state(sim, state_file):
    import json

    try:
        state_file.write_text(json.dumps({"now_ms": sim.now_ms, "epoch_ms": sim.epoch_ms}))
    except OSError:
        pass  # the directory went away: there is nothing to resume


def sim_board_arguments(p):
    from host.commands.device import key_dir_help
    from shared.mapconfig import MAP_NAMES

    p.add_argument("--dir", default="sim-board", help="board directory (its flash)")
    p.add_argument("--map", default="generic", choices=MAP_NAMES, help="register map of the meter")
    p.add_argument("--poll", type=int, default=10, help="poll period in seconds")
    p.add_argument("--start", type=int, default=0, help="start hour of the simulated day")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours to run")
    p.add_argument("--realtime", action="store_true", help="run on the wall clock instead")
    p.add_argument("--stay", action="store_true", help="keep the board up after the run")
    p.add_argument("--key-dir", help=key_dir_help())
