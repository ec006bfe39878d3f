"""The `host` command line: a table of commands, each a thin layer over library functions."""

import argparse
import sys

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


COMMANDS = {
    "demo": (cmd_demo, lambda p: None),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="host", description="netmeter host companion")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (handler, add_arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=handler.__doc__.splitlines()[0])
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
