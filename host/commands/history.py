"""History commands: sync (device -> history.db), export, verify and plot (history.db only)."""

import argparse
import datetime
import sys

from host.commands.device import link_arguments
from host.errors import CommandError


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


def time_arg(text):
    """ISO 8601 (a date, or a date and time; UTC unless it carries an offset) -> Unix s."""
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
    p.add_argument("--from", dest="start", type=time_arg, help="from this UTC time (ISO 8601)")
    p.add_argument("--to", dest="end", type=time_arg, help="before this UTC time (ISO 8601)")


def cmd_export(args):
    """Write the history as CSV or JSON (energies in mWh and mvarh, times in UTC)."""
    from host.export import export
    from host.history import History

    with History(args.db, create=False) as history:
        rows = history.rows(args.device, args.start, args.end)
        if args.out:
            with open(args.out, "w", newline="") as out:
                n = export(rows, args.format, out)
            print("wrote %d records to %s" % (n, args.out), file=sys.stderr)
        else:
            export(rows, args.format, sys.stdout)


def export_arguments(p):
    history_arguments(p)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
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
