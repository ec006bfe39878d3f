"""Real Mosquitto and PostgreSQL for the fleet tests and bench, on loopback, in temp dirs.

Broker: the Debian package's `mosquitto` with a config of our own (free port, persistence in
a temp dir, so a restarted broker keeps its sessions and queued messages). Database: initdb
and pg_ctl of the machine's PostgreSQL 15, as `nobody` when we are root (initdb refuses
root). A missing program fails the test under CI=true (make/.ci/run install them) and skips
it elsewhere with the command that installs it.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("NETMETER_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing(what, fix):
    message = "%s not found: %s" % (what, fix)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait_port(port, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))


class Mosquitto:
    def __init__(self, directory, port=None, autosave=True):
        self.exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        self.dir = Path(directory)
        self.port = port or free_port()
        self.proc = None
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous true",
            "persistence true",
            "persistence_location %s/" % self.dir,
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_dest file %s/mosquitto.log" % self.dir,
            "user %s" % pwd.getpwuid(os.getuid()).pw_name,
        ]
        if autosave:  # save after every queued message: a killed broker loses nothing acked
            lines += ["autosave_on_changes true", "autosave_interval 1"]
        (self.dir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    @property
    def url(self):
        return "mqtt://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def kill(self):
        """SIGKILL: the broker dies as in a power cut, keeping only what it had saved."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Postgres:
    def __init__(self, directory, port=None, fsync=False):
        self.dir = Path(directory)
        self.port = port or free_port()
        self.data = self.dir / "data"
        self.fsync = fsync
        self.user = None if os.getuid() != 0 else "nobody"

    def _run(self, *args, check=True):
        cmd = [str(a) for a in args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def init(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            uid = pwd.getpwnam(self.user).pw_uid
            os.chown(self.dir, uid, -1)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
        return self

    def start(self):
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=%s -c max_connections=50" % (
            self.port,
            self.dir,
            "on" if self.fsync else "off",
        )
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.dir / "log",
                  "-w", "start")  # fmt: skip
        return self

    def stop(self, mode="fast"):
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def restart(self):
        self.stop("immediate")  # as a crash: no checkpoint, recovery at the next start
        self.start()

    def dsn(self, dbname="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, dbname)

    def new_database(self, name):
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s" % name)
            conn.execute("CREATE DATABASE %s" % name)
        return self.dsn(name)


def need_mosquitto():
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        missing("mosquitto", "apt-get update && apt-get install -y mosquitto (make does this)")


def need_postgres():
    if not (PG_BIN / "initdb").exists():
        missing(str(PG_BIN / "initdb"), "apt-get install -y postgresql-15")


@pytest.fixture
def broker(tmp_path):
    need_mosquitto()
    b = Mosquitto(tmp_path / "mosquitto").start()
    yield b
    b.kill()


@pytest.fixture(scope="session")
def postgres_server():
    need_postgres()
    directory = Path(tempfile.mkdtemp(prefix="netmeter-pg-"))
    server = Postgres(directory).init().start()
    yield server
    server.stop("immediate")
    shutil.rmtree(directory, ignore_errors=True)


_count = [0]


@pytest.fixture
def pg(postgres_server):
    """(server, dsn) of a new empty database on the session's PostgreSQL."""
    _count[0] += 1
    dsn = postgres_server.new_database("fleet_%d_%d" % (os.getpid(), _count[0]))
    return postgres_server, dsn


# --- records from the real codec and chain ------------------------------------------------


def chained_raws(device_id, n, first_seq=0, start_utc=1764374400, interval_min=15, seed=1):
    """n encoded records of device_id from first_seq, each linked to the one before (seq 0
    to the genesis link), varied energies and a flag now and then."""
    import random

    from shared.record import POWER_DOWN, Record, chain_link, genesis_link

    rng = random.Random("%s-%d" % (device_id, seed))
    link = genesis_link(device_id)
    raws = []
    for seq in range(first_seq + n):
        rec = Record(
            seq=seq,
            start_utc=start_utc + seq * interval_min * 60,
            duration_s=interval_min * 60,
            a_plus=rng.randrange(0, 400_000),
            a_minus=rng.randrange(0, 200_000),
            q1=rng.randrange(0, 50_000),
            q4=rng.randrange(0, 20_000),
            flags=POWER_DOWN if seq % 97 == 13 else 0,
            interval_min=interval_min,
        )
        rec.link = chain_link(link, rec.encode())
        raw = rec.encode()
        link = rec.link
        if seq >= first_seq:
            raws.append(raw)
    return raws


def fill_history(history, device_id, raws):
    """Store raws in history.db as `host sync` does: checked pages, the genesis anchor."""
    from shared.record import decode, genesis_link

    page = [(decode(raw), raw) for raw in raws]
    first = page[0][0].seq
    anchor = (0, genesis_link(device_id), "seq 0 follows the genesis link") if first == 0 else None
    history.store_page(device_id, page, anchor)
