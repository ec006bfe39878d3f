"""History commands: sync (device -> history.db), export, verify and plot (history.db only).

export, verify and plot only read: they open an existing history database read-only after
checking that it is one, so a wrong --db (an empty file, /dev/null, a text file) is named
and left exactly as it was. A sync that fails before it stored anything leaves no new file."""

import argparse
import datetime
import sqlite3
import sys
from pathlib import Path

from host.commands.device import duration, link_arguments
from host.errors import CommandError

EXPORT_FORMATS = ("espi",)  # beyond host.export's csv and json: host.commands.fleet

SQLITE_HEADER = b"SQLite format 3\x00"
TIMES_HELP = "times are UTC; a time without an offset is read as UTC"


def plural(n, word):
    return "%d %s" % (n, word if n == 1 else word + "s")


def new_db_place(db):
    """The history database db may be created: its directory exists and it is a file."""
    db = Path(db)
    if not db.parent.is_dir():
        raise CommandError(
            "%s: the directory %s does not exist; create it or give --db in an existing one"
            % (db, db.parent)
        )
    if db.exists() and not db.is_file():
        raise CommandError("%s is not a regular file: give --db a history database file" % db)


def readable_history(db):
    """Check that db is an existing history database without changing a byte of it."""
    db = Path(db)
    if not db.parent.is_dir():
        raise CommandError("%s: the directory %s does not exist" % (db, db.parent))
    if not db.exists():
        raise CommandError("%s does not exist: run `host sync` first" % db)
    if not db.is_file():
        raise CommandError("%s is not a regular file, not a history database" % db)
    try:
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise CommandError("cannot read %s: %s" % (db, exc.strerror)) from None
    if not head:
        raise CommandError("%s is empty (0 bytes), not a history database" % db)
    if head != SQLITE_HEADER:
        raise CommandError("%s is not a SQLite database, not a history database" % db)
    try:
        con = sqlite3.connect("%s?mode=ro" % db.resolve().as_uri(), uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise CommandError("%s is not a usable history database: %s" % (db, exc)) from None
    missing = {"records", "anchors", "heads"} - tables
    if missing:
        raise CommandError(
            "%s is a SQLite database but not a netmeter history (no %s table)"
            % (db, ", ".join(sorted(missing)))
        )


def open_history(args):
    """The History of --db for a command that only reads, after readable_history()."""
    from host.history import History

    readable_history(args.db)
    history = History(args.db, create=False)
    devices = history.devices()
    if args.device_id is not None and args.device_id not in devices:
        history.close()
        raise CommandError(
            "%s holds no device %r (it holds: %s)"
            % (args.db, args.device_id, ", ".join(devices) or "no device yet")
        )
    return history


def cmd_sync(args):
    """Pull new records into the history database, checking CRC and hash chain, then ACK."""
    from host.history import History
    from host.sync import sync, text_progress

    new_db_place(args.db)
    state = args.state
    link = state.link()
    state.info()  # the device answers before a database is made for it
    created = not Path(args.db).exists()
    progress = text_progress(sys.stderr)
    stored = False
    try:
        with History(args.db) as history:
            try:
                result = sync(
                    link,
                    history,
                    progress=progress,
                    set_time=args.set_time,
                    ack=not args.no_ack,
                    key_loader=state.load_key,
                    accept_break=args.accept_break,
                )
            finally:
                progress.end()
                # Quarantined records are kept too: the database is their only copy off the board.
                stored = history.count() > 0 or bool(history.quarantined())
    finally:
        if created and not stored:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(args.db) + suffix).unlink(missing_ok=True)
    if result.clock_was_unset:
        print("clock was not set (the board restarted without a clock): set to this computer's "
              "UTC; the readings it held close at the next interval boundary")  # fmt: skip
    elif result.clock_step_ms is not None:
        print("clock set: stepped by %s" % duration(result.clock_step_ms))
    for line in result.summary():
        print(line)
    if result.ack_skipped:
        print("host: warning: %s" % result.ack_skipped, file=sys.stderr)
    if args.publish:
        from host.commands.fleet import publish_after_sync

        with History(args.db) as history:
            publish_after_sync(args, history, result.device_id, link.info())
    if result.clock_step_ms is None and not link.info().get("clock_set", True):
        print(
            "host: warning: the device clock is not set and there is no link key to set it: "
            "its readings are held, no interval closes; give --key, or run `host time sync`",
            file=sys.stderr,
        )


def sync_arguments(p):
    link_arguments(p)
    p.add_argument("--db", default="history.db", help="history database (SQLite)")
    p.add_argument("--set-time", action="store_true", help="set the device clock first")
    p.add_argument("--no-ack", action="store_true", help="leave the records on the device")
    p.add_argument(
        "--accept-break",
        action="store_true",
        help="take records past a chain break nothing proves, keeping the break as an audited "
        "anchor (otherwise they are quarantined; docs/host.md, Chain breaks)",
    )
    p.add_argument(
        "--publish", metavar="URL", help="then publish new records to mqtt://HOST[:PORT]"
    )


def time_arg(text):
    """ISO 8601 (a date, or a date and time; UTC unless it carries an offset) -> Unix s."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an ISO 8601 date or time" % text) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


def device_id_arguments(p):
    p.add_argument("--db", default="history.db", help="history database (SQLite)")
    p.add_argument(
        "--device-id", help="only this device (its device id in the history; default: all)"
    )
    # --device is the serial port of the link commands; here it is refused with a pointer.
    p.add_argument("--device", dest="port", help=argparse.SUPPRESS)


def history_arguments(p):
    device_id_arguments(p)
    p.add_argument(
        "--from", dest="start", type=time_arg, help="from this time (ISO 8601, UTC), inclusive"
    )
    p.add_argument(
        "--to", dest="end", type=time_arg, help="up to this time (ISO 8601, UTC), exclusive"
    )


def check_selection(args):
    if getattr(args, "port", None) is not None:
        raise CommandError(
            "--device names a board's serial port (link commands); `host %s` reads the history:"
            " give the device id with --device-id" % args.command
        )
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None and start >= end:
        raise CommandError(
            "--from %s is not before --to %s: nothing lies between them" % (iso(start), iso(end))
        )


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_export(args):
    """Write the history as CSV or JSON.

    Energies are integers in mWh (active) and mvarh (reactive), as the device booked them;
    times are UTC (ISO 8601 with Z); `source` is the billing source's number and
    `source_name` its name; flags are a bit mask and `flag_names`."""
    from host.export import export

    if args.format in EXPORT_FORMATS:
        from host.commands.fleet import export_other as export  # noqa: F811 - Green Button

    check_selection(args)
    with open_history(args) as history:
        rows = history.rows(args.device_id, args.start, args.end)
        if args.out:
            out_path = Path(args.out)
            part = out_path.with_name(out_path.name + ".part")
            try:
                with open(part, "w", newline="") as out:
                    n = export(rows, args.format, out)
                part.replace(out_path)  # a failed export leaves no half file under the name
            finally:
                part.unlink(missing_ok=True)
            print("wrote %s to %s" % (plural(n, "record"), args.out), file=sys.stderr)
        else:
            export(rows, args.format, sys.stdout)


def export_arguments(p):
    history_arguments(p)
    p.add_argument(
        "--format",
        choices=("csv", "json", *EXPORT_FORMATS),
        default="csv",
        help="output format (espi: Green Button XML, docs/fleet.md)",
    )
    p.add_argument("--out", help="output file (default: standard output)")


def cmd_verify(args):
    """Recompute every CRC and the hash chain from the raw records; exit 1 on any problem."""
    check_selection(args)
    with open_history(args) as history:
        problems = history.verify(args.device_id)
        n = history.count(args.device_id)
        quarantined = history.quarantined(args.device_id)
    for dev, first, last, count, reason in quarantined:
        print(
            "%s: seq %d..%d: %s quarantined, not verified and not counted (%s)"
            % (dev, first, last, plural(count, "record"), reason)
        )
    for problem in problems:
        print(problem)
    if problems:
        raise CommandError(
            "%s: %s in %s" % (args.db, plural(len(problems), "problem"), plural(n, "row"))
        )
    print("%s: %s, CRCs and hash chains intact" % (args.db, plural(n, "record")))


def verify_arguments(p):
    device_id_arguments(p)


def cmd_plot(args):
    """Draw import, export and net energy into a PNG, per interval, hour or day by range.

    Energies are in Wh or kWh as labelled on the axis; times are UTC. Over more than two
    days the intervals are summed per hour, over more than 31 days per day."""
    from host.plot import plot

    check_selection(args)
    with open_history(args) as history:
        n = history.count(args.device_id)
        if n == 0:
            raise CommandError("%s holds no records: run `host sync` first" % args.db)
        print("reading %s from %s ..." % (plural(n, "record"), args.db), file=sys.stderr)
        rows = history.rows(args.device_id, args.start, args.end)
        drawn = plot(rows, args.out, say=lambda text: print(text, file=sys.stderr, flush=True))
    if drawn.rows == 0:
        raise CommandError(
            "no records between --from and --to in %s: nothing to plot, %s not written"
            % (args.db, args.out)
        )
    print(
        "wrote %s (%s, %s of %s)"
        % (args.out, plural(drawn.rows, "interval"), plural(drawn.bins, "bar"), drawn.per)
    )


def plot_arguments(p):
    history_arguments(p)
    p.add_argument("--out", required=True, help="PNG file to write")
