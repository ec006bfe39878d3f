"""host sync throughput over the simulated board's console pty, beside the pty's raw byte
ceiling and `mpremote fs cp` of the same record files, and SQLite ingest of the history.

Run: .venv/bin/python bench/bench_sync.py [--records 5000] [--ingest 100000]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib  # noqa: F401 - puts the project on sys.path

from host.cli import main as host_main
from host.deploy import _tool
from host.history import History
from host.sim.board import copy_tree_for_tests
from host.sim.run import DAY0_UTC_MS, Simulation
from netmeter.repair import open_store
from netmeter.store import RecordStore
from shared.record import SIZE, Record, genesis_link

DEVICE_ID = "bench-1"
CONFIG = {
    "device_id": DEVICE_ID,
    "poll_period_s": 15,
    "rs485": {"baud": 115200},
    "meter": {"MAP": "generic"},
    "netting": {"sources": ["registers", "power"], "billing": "registers", "interval_min": 15},
}


def write_records(root, n):
    """n chained records in the firmware's own segment files, ending before the sim's day 0."""
    store = RecordStore(str(root / "records"), DEVICE_ID, capacity=max(n, 35040))
    open_store(store)
    t0 = DAY0_UTC_MS // 1000 - 900 * n
    for i in range(n):
        store.append(
            Record(
                seq=i,
                start_utc=t0 + 900 * i,
                duration_s=900,
                a_plus=1000 * (i % 97),
                a_minus=700 * (i % 13),
                q1=i % 50,
                interval_min=15,
            )  # fmt: skip
        )
    return store


def quiet(fn, *args):
    """Run fn with stdout and stderr sent to /dev/null (the CLI's own output)."""
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        return fn(*args)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(null)


def raw_ceiling(board, nbytes=2_000_000):
    """Bytes per second from the firmware's side of the console pty to the user's device,
    through the same relay a reply takes (the firmware keeps running; it writes nothing)."""
    import threading

    import serial

    port = serial.Serial(board.device, timeout=0.1)
    port.read(1 << 20)
    chunk = b"#" + b"A" * 1023  # printable, like base64 frames

    def write():  # blocking writes from another thread: the pty's flow control paces them
        for _ in range(nbytes // len(chunk)):
            os.write(board._console[1], chunk)  # the firmware's stdout

    writer = threading.Thread(target=write, daemon=True)
    got = 0
    started = time.perf_counter()
    writer.start()
    while got < nbytes // len(chunk) * len(chunk):
        got += len(port.read(1 << 16))
    writer.join()
    elapsed = time.perf_counter() - started
    port.close()
    return got / elapsed


def ingest(n, directory):
    """Records per second into a fresh history: one executemany in one transaction."""
    (Path(directory) / "ingest").mkdir(parents=True)
    raws = [bytes(r) for r in write_records(Path(directory) / "ingest", n).records(0, True)]
    with History(Path(directory) / "ingest.db") as history:
        started = time.perf_counter()
        history.ingest("dev-ingest", raws, (0, genesis_link("dev-ingest"), "bench"))
        elapsed = time.perf_counter() - started
        assert history.count() == n
    return n / elapsed


RUNS = 3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--ingest", type=int, default=100_000)
    args = parser.parse_args()
    print("command: %s %s" % (Path(sys.executable).name, " ".join(sys.argv)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        board_dir = tmp / "board"
        board_dir.mkdir()
        started = time.perf_counter()
        write_records(board_dir, args.records)
        copy_tree_for_tests(board_dir)
        (board_dir / "config.json").write_text(__import__("json").dumps(CONFIG))
        print("board holds %d records (%d bytes), written in %.1f s"
              % (args.records, args.records * SIZE, time.perf_counter() - started))  # fmt: skip
        sim = Simulation(board_dir, CONFIG)
        sim.start(deploy_firmware=False)
        try:
            times = []
            for run in range(RUNS):  # a fresh database each time: a whole first sync
                db = tmp / ("history%d.db" % run)
                argv = ["sync", "--device", sim.board.device, "--db", str(db), "--no-ack"]
                started = time.perf_counter()
                code = quiet(host_main, argv)
                times.append(time.perf_counter() - started)
                assert code == 0, "host sync failed"
                with History(db) as history:
                    stored = history.count(DEVICE_ID)
                    assert stored >= args.records and history.verify() == []
            sync_s = statistics.median(times)
            sync_rate = stored / sync_s
            wire_bytes = stored * SIZE
            ceiling = raw_ceiling(sim.board)

            cp_times = []
            for run in range(RUNS):
                out = tmp / ("copied%d" % run)
                out.mkdir()
                started = time.perf_counter()
                subprocess.run(
                    [_tool("mpremote"), "connect", sim.board.device, "resume",
                     "fs", "-r", "cp", ":records", str(out) + "/"],
                    check=True, capture_output=True, timeout=600,
                )  # fmt: skip
                cp_times.append(time.perf_counter() - started)
            cp_s = statistics.median(cp_times)
            copied = sum(p.stat().st_size for p in out.rglob("*.seg")) // SIZE
        finally:
            sim.stop()
        ingest_rate = statistics.median(ingest(args.ingest, tmp / str(i)) for i in range(RUNS))

    print("median of %d runs each (a shared machine's noise moves single runs by 2x)" % RUNS)
    print("host sync           : %d records in %.2f s = %.0f records/s (%.0f KB/s of "
          "records; CRC and chain of every record checked, one SQLite transaction per page)"
          % (stored, sync_s, sync_rate, wire_bytes / sync_s / 1000))  # fmt: skip
    print("pty raw ceiling     : %.0f KB/s firmware->host through the same console relay "
          "= %.0f records/s at 76 bytes (%.0f with the link's base64 framing, 4/3)"
          % (ceiling / 1000, ceiling / SIZE, ceiling / SIZE * 3 / 4))  # fmt: skip
    print("mpremote fs cp -r   : %d records (segment files) in %.2f s = %.0f records/s, "
          "nothing verified" % (copied, cp_s, copied / cp_s))  # fmt: skip
    print("sync / mpremote     : %.1fx (goal >= 10x)" % ((sync_rate) / (copied / cp_s)))
    print("sync / raw ceiling  : %.0f%% of the framed ceiling"
          % (100 * sync_rate / (ceiling / SIZE * 3 / 4)))  # fmt: skip
    print(
        "SQLite ingest       : %.0f records/s (%d records, executemany in one transaction, "
        "WAL journal, synchronous=NORMAL, one struct unpack per row; goal >= 100,000)"
        % (ingest_rate, args.ingest)
    )


if __name__ == "__main__":
    main()
