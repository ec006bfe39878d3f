"""The `host` command line: a table of commands, each a thin layer over library functions."""

import argparse
import sys
import time
from pathlib import Path

from host import mpy


class CommandError(Exception):
    """An expected failure: printed as one line on stderr, exit status 1, no traceback."""


def cmd_demo(args):
    """Run the netting core inside the MicroPython VM on the built-in PV scenario."""
    proc = mpy.run_script("demo_netting.py", capture=False)
    if proc.returncode != 0:
        raise CommandError(
            "the demo scenario failed inside MicroPython (exit %d)" % proc.returncode
        )


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
    """Compile the firmware with mpy-cross and copy it to a board with mpremote."""
    from host.deploy import DeployError, deploy

    try:
        config = deploy(args.device, args.board)
    except (DeployError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    print(
        "deployed netmeter for %s to %s; reset the board to start it"
        % (config["board"], args.device)
    )


def deploy_arguments(p):
    p.add_argument("--device", required=True, help="serial port of the board, e.g. /dev/ttyACM0")
    p.add_argument("--board", required=True, help="board name: rp2_pico, esp32_s3, ...")


COMMANDS = {
    "deploy": (cmd_deploy, deploy_arguments),
    "demo": (cmd_demo, lambda p: None),
    "sim board": (cmd_sim_board, sim_board_arguments),
}


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


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except CommandError as exc:
        print("host: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("host: interrupted", file=sys.stderr)
        return 130
    return 0
