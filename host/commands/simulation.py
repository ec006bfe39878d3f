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
