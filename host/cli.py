"""The `host` command line: the command table, the parser and main.

Each command is a handler in a module of host/commands/ by subject, named here as
(module, handler, arguments): `handler(args)` does the work, `arguments(parser)` adds its
options, and the handler's docstring is its --help. Another command is one more row."""

import argparse
import sys

COMMANDS = {
    "deploy": ("host.commands.device", "cmd_deploy", "deploy_arguments"),
    "demo": ("host.commands.simulation", "cmd_demo", "demo_arguments"),
    "sim board": ("host.commands.simulation", "cmd_sim_board", "sim_board_arguments"),
    "sync": ("host.commands.history", "cmd_sync", "sync_arguments"),
    "status": ("host.commands.device", "cmd_status", "link_arguments"),
    "config push": ("host.commands.config", "cmd_config_push", "config_push_arguments"),
    "config set": ("host.commands.config", "cmd_config_set", "config_set_arguments"),
    "config pull": ("host.commands.config", "cmd_config_pull", "config_pull_arguments"),
    "config validate": ("host.commands.config", "cmd_config_validate", "file_argument"),
    "time sync": ("host.commands.device", "cmd_time_sync", "link_arguments"),
    "reset-net": ("host.commands.device", "cmd_reset_net", "link_arguments"),
    "log": ("host.commands.device", "cmd_log", "count_arguments"),
    "trace": ("host.commands.device", "cmd_trace", "count_arguments"),
    "export": ("host.commands.history", "cmd_export", "export_arguments"),
    "verify": ("host.commands.history", "cmd_verify", "verify_arguments"),
    "plot": ("host.commands.history", "cmd_plot", "plot_arguments"),
    "conformance": ("host.commands.conformance", "cmd_conformance", "conformance_arguments"),
    "gateway": ("host.commands.fleet", "cmd_gateway", "gateway_arguments"),
    "ingest": ("host.commands.fleet", "cmd_ingest", "ingest_arguments"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and every option's default where it has one."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            default not in (None, False, argparse.SUPPRESS)
            and "default" not in text
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


def resolve(name):
    """(handler, arguments function) of the command name from the table."""
    import importlib

    module_name, handler, arguments = COMMANDS[name]
    module = importlib.import_module(module_name)
    return getattr(module, handler), getattr(module, arguments)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="host",
        description="netmeter host companion: deploy, sync, inspect and check netmeter boards",
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {}
    for name in COMMANDS:
        handler, add_arguments = resolve(name)
        words = name.split()
        target = sub
        if len(words) == 2:  # "sim board": a command group and its command
            if words[0] not in groups:
                group = sub.add_parser(
                    words[0],
                    help="%s commands" % words[0],
                    description="`host %s` commands" % words[0],
                    formatter_class=HelpFormatter,
                )
                groups[words[0]] = group.add_subparsers(
                    dest="subcommand", required=True, metavar="COMMAND"
                )
            target = groups[words[0]]
        doc = (handler.__doc__ or name).strip()
        p = target.add_parser(
            words[-1],
            help=doc.splitlines()[0],
            description=" ".join(line.strip() for line in doc.splitlines()),
            formatter_class=HelpFormatter,
        )
        add_arguments(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv=None, link=None):
    """Run one command; link: an already connected host.link.Link (tests inject one).
    Returns the exit status: 0, 1 for an expected failure (one line on stderr), 130 when
    interrupted; never a traceback for anything a person can type or pipe."""
    from host import interrupt

    interrupt.quiet_until_running()
    try:
        args = build_parser().parse_args(argv)
        interrupt.running()
        return run(args, link)
    except KeyboardInterrupt:
        print("host: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()
    finally:
        interrupt.running()


def run(args, link):
    from host.commands.device import State
    from host.errors import describe, expected_errors

    args.state = State(args, link)
    errors = expected_errors()
    try:
        args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:
        raise
    except errors as exc:
        print("host: %s" % describe(exc, args), file=sys.stderr)
        return 1
    finally:
        if link is None:
            args.state.close()
    return 0


def quiet_broken_pipe():
    """The reader of our output went away (`host export | head -1`): stop without a word,
    as `cat` does; stdout goes to /dev/null so Python's flush at exit does not complain."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a descriptor (a test's capture)
        pass
    return 141  # 128 + SIGPIPE, as a shell reports a pipeline's writer killed by it
