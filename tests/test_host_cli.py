"""`host` answers like a finished tool (issue 12, item 5): each rough edge seen by a new user,
fixed and shown here through the real command line (main(), or `python -m host` in a
subprocess where a signal or a pipe is involved) on real SQLite files."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_host_history import (
    DEVICE_ID,
    KEY,
    T0,
    Loopback,
    StoreDevice,
    _corrupt_device,
    link_to,
    make_store,
)

from host.cli import COMMANDS, build_parser, main
from host.commands.device import duration, log_line, quantity
from host.history import History
from host.link import Link
from host.plot import plot
from host.sync import sync
from netmeter.link import LinkServer
from shared.record import Record, chain_link, genesis_link
from tests.conftest import run_host as run

ROOT = Path(__file__).resolve().parent.parent


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def synced(tmp_path):
    store = make_store(tmp_path / "records", 40)
    db = tmp_path / "history.db"
    with History(db) as history:
        sync(link_to(StoreDevice(store)), history)
    return tmp_path, db


def year_history(db, n=30_000, device_id="year-1"):
    """n chained 15-minute records (a year is 35,040) ingested as a sync stores them."""
    prev = genesis_link(device_id)
    raws = []
    for i in range(n):
        hour = (i // 4) % 24
        r = Record(seq=i, start_utc=T0 + 900 * i, duration_s=900, interval_min=15,
                   a_plus=0 if 9 <= hour < 16 else 150_000 + i % 97,
                   a_minus=400_000 if 9 <= hour < 16 else 0)  # fmt: skip
        r.link = chain_link(prev, r.encode())
        raw = r.encode()
        prev = r.link
        raws.append(raw)
    with History(db) as history:
        history.ingest(device_id, raws, (0, genesis_link(device_id), "genesis"))


# --- plot -------------------------------------------------------------------------------


def test_plot_of_a_year_is_summed_per_day_with_progress_and_units(tmp_path, capsys):
    db, png = tmp_path / "year.db", tmp_path / "year.png"
    year_history(db)
    code, out, err = run(capsys, "plot", "--db", db, "--out", png)
    assert code == 0, err
    assert "reading 30000 records from" in err
    assert "summed 30000 intervals into 313 day bars" in err and "drawing 313 bars" in err
    assert "(30000 intervals, 313 bars of day)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with History(db) as history:
        drawn = plot(history.rows(), tmp_path / "again.png")
    assert (drawn.per, drawn.unit, drawn.bins) == ("day", "kWh", 313)
    code, out, err = run(capsys, "plot", "--db", db, "--out", png,
                         "--from", "2025-12-01", "--to", "2025-12-02")  # fmt: skip
    assert code == 0 and "(96 intervals, 96 bars of interval)" in out, err
    code, out, err = run(capsys, "plot", "--db", db, "--out", png,
                         "--from", "2025-12-01", "--to", "2025-12-08")  # fmt: skip
    assert code == 0 and "(672 intervals, 168 bars of hour)" in out, err


def test_plot_of_an_empty_history_is_one_line_and_no_png(tmp_path, capsys):
    db, png = tmp_path / "empty.db", tmp_path / "none.png"
    History(db).close()
    code, _, err = run(capsys, "plot", "--db", db, "--out", png)
    assert code == 1 and "holds no records: run `host sync` first" in err
    assert err.count("\n") == 1 and not png.exists()


def test_plot_of_a_range_without_records_is_an_error(synced, capsys):
    tmp_path, db = synced
    png = tmp_path / "none.png"
    code, _, err = run(capsys, "plot", "--db", db, "--out", png, "--from", "2030-01-01")
    assert code == 1 and "nothing to plot" in err and not png.exists()


# --- the device id is not the serial port -----------------------------------------------


@pytest.mark.parametrize("command", ["export", "verify", "plot"])
def test_history_commands_refuse_a_serial_port_for_the_device_id(synced, capsys, command):
    tmp_path, db = synced
    argv = [command, "--db", db, "--device", "/dev/ttyACM0"]
    if command == "plot":
        argv += ["--out", tmp_path / "x.png"]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and "give the device id with --device-id" in err
    code, out, err = run(capsys, *argv[:3], "--device-id", "nosuch", *argv[5:])
    assert code == 1 and out == ""
    assert "holds no device 'nosuch' (it holds: %s)" % DEVICE_ID in err


def test_export_takes_the_device_id_and_refuses_from_after_to(synced, capsys):
    _, db = synced
    code, out, _ = run(capsys, "export", "--db", db, "--device-id", DEVICE_ID, "--format", "json")
    assert code == 0 and len(json.loads(out)) == 40
    code, out, err = run(
        capsys, "export", "--db", db, "--from", "2025-11-30", "--to", "2025-11-29"
    )
    assert code == 1 and out == ""
    assert "--from 2025-11-30T00:00:00Z is not before --to 2025-11-29T00:00:00Z" in err


def test_export_names_the_source(synced, capsys):
    _, db = synced
    code, out, _ = run(capsys, "export", "--db", db, "--format", "json")
    rows = json.loads(out)
    assert code == 0 and {(r["source"], r["source_name"]) for r in rows} == {(2, "registers")}


# --- verify ------------------------------------------------------------------------------


def test_verify_names_the_seq_of_a_raw_cell_turned_into_text(synced, capsys):
    _, db = synced
    con = sqlite3.connect(db)
    con.execute("UPDATE records SET raw = CAST(raw AS TEXT) WHERE seq = 5")
    con.commit()
    con.close()
    code, out, err = run(capsys, "verify", "--db", db)
    assert code == 1
    assert (
        "%s: seq 5: raw is stored as text, not the record's bytes (edited row)" % DEVICE_ID in out
    )
    assert "Could not decode" not in out + err
    assert err == "host: %s: 1 problem in 40 rows\n" % db


def test_verify_counts_one_problem_in_the_singular(synced, capsys):
    _, db = synced
    con = sqlite3.connect(db)
    con.execute("UPDATE records SET q2 = 99 WHERE seq = 3")
    con.commit()
    con.close()
    code, out, err = run(capsys, "verify", "--db", db)
    assert code == 1 and out.count("\n") == 1 and ": 1 problem in 40 rows" in err


# --- read-only and failed commands change no file ---------------------------------------


def test_a_failed_sync_leaves_no_new_database(tmp_path, capsys):
    device = _corrupt_device(tmp_path, 0, "crc")
    db = tmp_path / "dead.db"
    code, _, err = run(capsys, "sync", "--device", "x", "--db", db, link=link_to(device))
    assert code == 1 and "seq 0" in err
    assert sorted(p.name for p in tmp_path.iterdir() if "dead" in p.name) == []


def test_a_failed_sync_keeps_an_existing_database_as_it_was(synced, capsys):
    tmp_path, db = synced
    (tmp_path / "other").mkdir()
    device = _corrupt_device(tmp_path / "other", 0, "crc")
    before = History(db)
    n = before.count()
    before.close()
    code, _, _ = run(capsys, "sync", "--device", "x", "--db", db, link=link_to(device))
    assert code == 1 and db.exists()
    with History(db, create=False) as history:
        assert history.count() == n


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty (0 bytes), not a history database"),
        (b"device,seq\nmeter-7,1\n", "is not a SQLite database"),
    ],
)
def test_read_only_commands_leave_a_wrong_file_untouched(tmp_path, capsys, content, message):
    db = tmp_path / "wrong.db"
    db.write_bytes(content)
    for argv in (["export"], ["verify"], ["plot", "--out", tmp_path / "p.png"]):
        code, out, err = run(capsys, *argv, "--db", db)
        assert code == 1 and out == "" and message in err
        assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wrong.db"]


def test_read_only_commands_do_not_turn_another_sqlite_file_into_a_history(tmp_path, capsys):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = digest(db)
    code, _, err = run(capsys, "export", "--db", db)
    assert code == 1 and "not a netmeter history (no anchors, heads, records table)" in err
    assert digest(db) == before


def test_export_and_verify_do_not_change_a_history(synced, capsys):
    _, db = synced
    before = digest(db)
    assert run(capsys, "export", "--db", db)[0] == 0
    assert run(capsys, "verify", "--db", db)[0] == 0
    assert digest(db) == before


def test_dev_null_and_missing_directories_are_named(tmp_path, capsys):
    code, _, err = run(capsys, "status", "--device", "/dev/null")
    assert code == 1
    assert err == "host: /dev/null is not a serial port: give the board's USB serial port " \
                  "(ls /dev/ttyACM*)\n"  # fmt: skip
    missing = tmp_path / "no" / "such"
    code, _, err = run(capsys, "sync", "--device", "/dev/null", "--db", missing / "h.db")
    assert code == 1 and "the directory %s does not exist" % missing in err
    code, _, err = run(capsys, "export", "--db", missing / "h.db")
    assert code == 1 and "the directory %s does not exist" % missing in err
    code, _, err = run(capsys, "verify", "--db", "/dev/null")
    assert code == 1 and "/dev/null is not a regular file" in err
    assert not missing.parent.exists()


# --- no traceback, ever ------------------------------------------------------------------


@pytest.mark.parametrize("suffix,text", [
    (".json", "[" * 100_000 + "]" * 100_000),
    (".json", '{"a":' * 100_000 + "1" + "}" * 100_000),
    (".toml", "a = " + "[" * 100_000 + "]" * 100_000),
])  # fmt: skip
def test_deeply_nested_config_is_one_line(tmp_path, capsys, suffix, text):
    path = tmp_path / ("deep" + suffix)
    path.write_text(text)
    code, _, err = run(capsys, "config", "validate", path)
    assert code == 1 and err.count("\n") == 1 and "deep%s: " % suffix in err
    assert len(err) < 200


def test_error_lines_cut_a_huge_value_to_a_readable_length(tmp_path, capsys):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"poll_period_s": [0] * 200_000}))
    code, _, err = run(capsys, "config", "validate", path)
    assert code == 1 and err.count("\n") == 1 and len(err) <= 420
    # Cut by the validator (shared.configcheck) or, for any other message, by the CLI.
    assert err.startswith("host: big.json: poll_period_s = [0, 0")
    assert "characters cut" in err or "...: allowed 1, 2, 3" in err
    assert "allowed" in err  # the rule, at the end of the line, is kept


def _python_startup_s():
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t


def test_ctrl_c_in_the_first_milliseconds_is_one_line(tmp_path):
    # From the moment the interpreter runs host's code (after its own start-up, measured
    # here under the same load) a SIGINT ends the command with one line, never a traceback.
    start = _python_startup_s()
    seen = set()
    for k in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-m", "host", "verify", "--db", str(tmp_path / "none.db")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(start * 1.2 + k * 0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err
        assert err in (b"host: interrupted\n", b"host: %s does not exist: run `host sync` first\n"
                       % str(tmp_path / "none.db").encode()), err  # fmt: skip
        seen.add(proc.returncode)
    assert 130 in seen  # at least one was interrupted


def test_output_into_head_ends_quietly(synced):
    _, db = synced
    err = Path(str(db) + ".err")
    proc = subprocess.run(
        "%s -m host export --db %s 2>%s | head -1" % (sys.executable, db, err),
        shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.stdout.startswith("device_id,seq,start_utc") and proc.stdout.count("\n") == 1
    assert err.read_text() == ""


def test_a_broken_pipe_mid_export_of_a_year_ends_quietly(tmp_path):
    db = tmp_path / "year.db"
    year_history(db, n=5000)
    err = tmp_path / "err"
    proc = subprocess.run(
        "set -o pipefail; %s -m host export --db %s --format json 2>%s | head -c 100 >/dev/null"
        % (sys.executable, db, err),
        shell=True, executable="/bin/bash", cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert err.read_text() == "" and proc.returncode == 141


# --- plain words -------------------------------------------------------------------------


def test_status_values_and_clock_steps_read_plainly():
    assert quantity(None, "VA") == "n/a" and quantity(1520, "W") == "1520 W"
    assert duration(31692961093) == "+31692961093 ms (+366 d 19 h 36 min 1 s)"
    assert duration(-90_000) == "-90000 ms (-1 min 30 s)" and duration(250) == "+250 ms"
    # A log time says what it is measured from: UTC once the clock is set, else boot.
    words = log_line((1764374400123, "mb_timeout", "read 3", 2)).split()
    assert words == ["2025-11-29", "00:00:00.123", "UTC", "mb_timeout", "read", "3", "(+2",
                     "repeats)"]  # fmt: skip
    assert log_line((5000, "boot", "", 0)).startswith("5.000 s after boot (clock not set) ")


def test_a_device_without_a_key_points_to_host_deploy(tmp_path, capsys):
    store = make_store(tmp_path / "records", 3)
    link = Link(Loopback(LinkServer(StoreDevice(store), None)), key=KEY, timeout=0.2)
    code, _, err = run(capsys, "reset-net", "--device", "x", link=link)
    assert code == 1 and err.count("\n") == 1
    assert "no link key" in err and "`host deploy --device x --board NAME`" in err


# --- help and docs -----------------------------------------------------------------------


def subparsers():
    """{command name: its argparse parser} for every row of the command table."""
    parser = build_parser()
    out = {}

    def walk(p, prefix):
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    walk(sub, prefix + [name])
        if " ".join(prefix) in COMMANDS:
            out[" ".join(prefix)] = p

    walk(parser, [])
    return out


def options(p):
    return [o for a in p._actions if a.help != "==SUPPRESS==" for o in a.option_strings
            if o not in ("-h", "--help")]  # fmt: skip


def test_every_command_has_a_description_and_shows_its_defaults():
    parsers = subparsers()
    assert set(parsers) == set(COMMANDS)
    for name, p in parsers.items():
        text = p.format_help()
        assert p.description and len(p.description) > 20, name
        for a in p._actions:
            if a.option_strings and a.default not in (None, False, "==SUPPRESS==") and a.help:
                assert "default" in (a.help % {"default": a.default}) or (
                    "(default: %s)" % a.default in text
                ), (name, a.option_strings)
        if any("--key-dir" in a.option_strings for a in p._actions):
            assert "$NETMETER_KEY_DIR" in text, name
    help_of = {name: p.format_help() for name, p in parsers.items()}
    assert "{generic,sdm630,sunspec203}" in help_of["sim board"]
    for name in ("export", "plot"):
        assert "UTC" in help_of[name] and ("mWh" in help_of[name] or "kWh" in help_of[name])
    assert "mvarh" in help_of["export"]
    for name, option in [("sync", "--db"), ("status", "--timeout"), ("export", "--format"),
                         ("demo", "--out"), ("sim board", "--dir"), ("sim board", "--hours"),
                         ("sim board", "--poll"), ("verify", "--db")]:  # fmt: skip
        line = help_of[name][help_of[name].index("\n  " + option) + 1 :]
        assert "(default: " in " ".join(line.split("\n  -")[0].split()), (name, option)


def test_docs_host_md_lists_every_command_with_every_option():
    text = (ROOT / "docs" / "host.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `host ")]
    for name, p in subparsers().items():
        row = [r for r in rows if r.startswith("| `host %s " % name) or
               r.startswith("| `host %s`" % name)]  # fmt: skip
        assert len(row) == 1, name
        for option in options(p):
            assert (
                option in row[0]
                or option in ("--timeout", "--key", "--key-dir")
                and (
                    "Link commands also take `--timeout S`, `--key FILE` and `--key-dir DIR`"
                    in text
                )
            ), (name, option)
        for positional in [a for a in p._actions if not a.option_strings and a.dest != "help"]:
            assert (positional.metavar or positional.dest.upper()) in row[0], name


# --- host sim board ----------------------------------------------------------------------


def sim_board(tmp_path, *more, **kwargs):
    argv = [sys.executable, "-m", "host", "sim", "board", "--dir", str(tmp_path / "b"),
            "--key-dir", str(tmp_path / "keys"), *more]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180, **kwargs)


def board_records(directory):
    from shared.record import SIZE, decode

    data = b"".join(p.read_bytes() for p in sorted((directory / "records").glob("*.seg")))
    return [decode(data[i : i + SIZE]) for i in range(0, len(data) - SIZE + 1, SIZE)]


def test_sim_board_has_a_key_and_a_restart_keeps_config_id_and_clock(tmp_path):
    first = sim_board(tmp_path, "--hours", "0.25", "--start", "12")
    assert first.returncode == 0, first.stderr
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    device_id = config["device_id"]
    key = tmp_path / "keys" / ("%s.key" % device_id)
    assert "(new)" in first.stdout
    assert "device %s: link key in %s" % (device_id, key) in first.stdout
    assert (tmp_path / "b" / "link.key").read_text().strip() == key.read_text().strip()
    [r0] = board_records(tmp_path / "b")
    again = sim_board(tmp_path, "--hours", "0.25", "--start", "0")  # --start: a new board's
    assert again.returncode == 0, again.stderr
    assert "(resumed)" in again.stdout and "link key" not in again.stdout
    assert json.loads((tmp_path / "b" / "config.json").read_text()) == config
    records = board_records(tmp_path / "b")
    assert [r.seq for r in records] == [0, 1]
    assert records[1].start_utc == r0.start_utc + 900  # 12:15, not rewound to 00:00
    proc = subprocess.run(["git", "check-ignore", "-q", "sim-board/"], cwd=ROOT)
    assert proc.returncode == 0  # the default board directory is git-ignored


def _children(pid, name):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except OSError:
            continue
        if int(fields[1]) == pid and comm == name:
            out.append(int(stat.parent.name))
    return out


def test_sim_board_takes_signed_commands_and_notices_its_board_died(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "host",
        "sim",
        "board",
        "--dir",
        str(tmp_path / "b"),
        "--key-dir",
        str(tmp_path / "keys"),
        "--hours",
        "0.1",
        "--start",
        "9",
        "--stay",
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        lines = []
        while not lines or "stays up" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        port = next(ln for ln in lines if "USB serial" in ln).split(": ")[1].strip()
        signed = subprocess.run(
            [sys.executable, "-m", "host", "time", "sync", "--device", port,
             "--key-dir", str(tmp_path / "keys")],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert signed.returncode == 0 and "clock set: stepped by" in signed.stdout, signed.stderr
        [board] = _children(proc.pid, "micropython")
        os.kill(board, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and err.count("\n") == 1
    assert err.startswith("host: the simulated board's process ended (exit status -9;")
    assert "start it again with the same --dir to resume" in err


class UnsetClockLink:
    """INFO and STATUS of a board that restarted without a battery clock."""

    def __init__(self, clock_set):
        self.clock_set = clock_set

    def info(self):
        return {"board": "rp2_pico", "device_id": "pico-1", "fw": "0.1.0", "proto": 1,
                "first_seq": 0, "next_seq": 0, "clock_ms": 1609459212000,
                "clock_set": self.clock_set,
                "rtc": "ds3231 on I2C0 (sda 4, scl 5): time lost (oscillator stopped: battery "
                       "flat or missing?)"}  # fmt: skip

    def status(self):
        return {"p": [], "comm": {}, "errors": []}

    def close(self):
        pass


def test_status_says_an_unset_clock_holds_the_readings_and_shows_no_false_time(capsys):

    assert main(["status", "--device", "/dev/ttyACM0"], link=UnsetClockLink(False)) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.startswith("clock")]
    assert line == "clock    NOT SET: readings are held, no interval closes; `host sync` sets it"
    assert "rtc      ds3231 on I2C0 (sda 4, scl 5): time lost (oscillator stopped" in out
    assert main(["status", "--device", "/dev/ttyACM0"], link=UnsetClockLink(True)) == 0
    out = capsys.readouterr().out
    assert "clock    2021-01-01 00:00:12 UTC" in out
