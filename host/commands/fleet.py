"""The fleet's commands: `gateway` and `ingest`, and the hooks `sync --publish URL` and
`export --format espi` (host/commands/history.py calls them)."""

import signal

from host.commands.device import key_dir_help
from host.errors import CommandError

DEFAULT_GROUP = "netmeter"


def _command_error(exc):
    return CommandError(str(exc))


def _on_sigterm(stop):
    """SIGTERM (systemd stop) ends the loop after the current step."""
    signal.signal(signal.SIGTERM, lambda signum, frame: stop())


def cmd_gateway(args):
    """Sync boards on a period and publish their stored records to an MQTT broker."""
    from host.fleet.gateway import Gateway
    from host.fleet.publish import PublishError
    from host.history import History

    with History(args.db) as history:
        try:
            gateway = Gateway(
                args.device,
                history,
                args.mqtt,
                args.state.load_key,
                period=args.period,
                client_id=args.client_id,
                say=lambda line: print(line, flush=True),
            )
        except PublishError as exc:
            raise _command_error(exc) from None
        _on_sigterm(gateway.stop)
        gateway.run(cycles=args.cycles)


def gateway_arguments(p):
    p.add_argument(
        "--device", action="append", default=[], help="serial port of a board (repeatable)"
    )
    p.add_argument("--mqtt", required=True, help="broker URL, mqtt://HOST[:PORT]")
    p.add_argument("--db", default="history.db", help="history database (SQLite)")
    p.add_argument("--period", type=float, default=60.0, help="seconds between cycles")
    p.add_argument("--cycles", type=int, help="stop after this many cycles (default: never)")
    p.add_argument("--client-id", help="MQTT client id (default netmeter-gw-<hostname>)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    p.add_argument("--key", help="link key file (with one --device)")
    p.add_argument("--key-dir", help=key_dir_help())


def cmd_ingest(args):
    """Store records from MQTT in PostgreSQL, verified (shared subscription, several workers)."""
    from host.fleet.ingest import IngestError, Worker, connect_db, create_schema, verify
    from host.fleet.publish import PublishError

    try:
        if args.verify:
            conn = connect_db(args.db)
            create_schema(conn)
            problems = verify(conn)
            n = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
            q = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
            conn.close()
            for problem in problems:
                print(problem)
            if problems:
                raise _command_error("%d problems in %d readings" % (len(problems), n))
            print("%d readings, CRCs and hash chains intact; %d in quarantine" % (n, q))
            return
        workers = [
            Worker(
                args.mqtt,
                args.db,
                group=args.group,
                client_id="%s-%d" % (args.client_id, i) if args.workers > 1 else args.client_id,
                batch=args.batch,
                say=lambda line: print(line, flush=True),
            )
            for i in range(args.workers)
        ]
    except (IngestError, PublishError) as exc:
        raise _command_error(exc) from None
    if len(workers) == 1:
        _on_sigterm(workers[0].stop)
        try:
            totals = workers[0].run()
        except IngestError as exc:
            raise _command_error(exc) from None
        print(totals)
        return
    import multiprocessing

    procs = [multiprocessing.Process(target=_run_worker, args=(w,)) for w in workers]
    for proc in procs:
        proc.start()

    def stop_all():
        for proc in procs:
            proc.terminate()

    _on_sigterm(stop_all)
    for proc in procs:
        proc.join()


def _run_worker(worker):
    _on_sigterm(worker.stop)
    print(worker.run(), flush=True)


def ingest_arguments(p):
    p.add_argument("--mqtt", default="mqtt://localhost:1883", help="broker URL")
    p.add_argument("--db", required=True, help="PostgreSQL URL, postgresql://USER@HOST/DB")
    p.add_argument("--group", default=DEFAULT_GROUP, help="shared subscription group")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--batch", type=int, default=200, help="messages per transaction")
    p.add_argument("--client-id", default="netmeter-ingest", help="MQTT client id")
    p.add_argument("--verify", action="store_true", help="check every chain and exit")


# --- hooks into existing commands ----------------------------------------------------------


def publish_after_sync(args, history, device_id, info):
    """`host sync --publish URL`: publish what is new once, wait for the PUBACKs."""
    if not getattr(args, "publish", None):
        return
    from host.fleet.gateway import publish_once
    from host.fleet.publish import Publisher, PublishError

    try:
        publisher = Publisher(args.publish, "netmeter-sync-%s" % device_id)
    except PublishError as exc:
        raise _command_error(exc) from None
    publisher.note_device(history.db, device_id, info.get("board"), info.get("fw"))
    publisher.start([])  # no last will: between runs the device stays online in HA
    try:
        if not publisher.wait_connected(10.0):
            raise _command_error(
                "broker %s:%d not reachable: the records stay in %s and are published by the "
                "next `host sync --publish`" % (publisher.host, publisher.port, history.path)
            )
        handed, done = publish_once(publisher, history, timeout=60.0)
    finally:
        publisher.close(offline=False)
    if not done:
        raise _command_error(
            "the broker did not acknowledge every page in 60 s: the rest is published next time"
        )
    print("published %d records to %s" % (handed, args.publish))


def export_other(rows, fmt, out):
    """Formats beyond csv/json (fmt: `espi`, Green Button XML): same call as host.export's."""
    from host.espi import export_espi

    return export_espi(rows, out)
