"""`host demo`: the whole chain on one simulated day.

A simulated household meter with PV (pymodbus RTU server on a pty, S0 pulses) and the
simulated board (the firmware in the MicroPython unix port); the firmware is deployed with
mpremote and a new link key (host deploy's path, into a temporary key dir), a day runs in
lockstep virtual time, `host sync` pulls the records into history.db, and the day is
summed per hour beside the meter's own registers, then plotted.
"""

import datetime
import sys
import tempfile
import time
from pathlib import Path

DEVICE_ID = "demo-household"
POLL_S = 15
INTERVAL_MIN = 15
HOURS = 24
CONFIG = {
    "device_id": DEVICE_ID,
    "poll_period_s": POLL_S,
    "rs485": {"baud": 115200},
    "meter": {"MAP": "generic"},
    "netting": {
        "sources": ["registers", "power", "pulses"],
        "billing": "registers",
        "interval_min": INTERVAL_MIN,
        "summation": "vector",
        "pulse_imp_per_kwh": 1000,
    },
}
SITE_SEED = 7  # a household with 6 kW of PV on three phases


class DemoError(Exception):
    """The demo could not run or its numbers disagree with the meter: one line."""


class Hour:
    def __init__(self):
        self.a_plus = 0  # mWh, from the synced records
        self.a_minus = 0
        self.records = 0
        self.flags = {}  # name -> count
        self.true_plus = 0  # mWh, the meter's register deltas over the hour
        self.true_minus = 0


def register_mwh(server):
    """(import, export) of the meter's energy registers now, in mWh (as the map reads)."""
    from shared.regmap import ENERGY_UNITS

    values = server.registers.values()
    out = []
    for name in ("import_energy", "export_energy"):
        unit = server.regmap.quantity(name).unit
        out.append(int(values[name] * ENERGY_UNITS[unit]))
    return tuple(out)


def run(out_dir, log=sys.stderr):
    """Run the demo into out_dir; returns (hours, totals dict, facts dict). Progress on log."""
    from host.plot import plot

    def say(text):
        print("demo: %s" % text, file=log, flush=True)

    started = time.monotonic()
    db, png = _fresh_outputs(Path(out_dir))
    hours = [Hour() for _ in range(HOURS)]
    on_board = _simulate_and_sync(hours, db, say, log)
    rows = _verified_rows(db, on_board)
    day0 = _bin_by_hour(rows, hours)
    plot(rows, png)
    say("wrote %s (%d intervals)" % (png, len(rows)))
    facts = {
        "day": day0,
        "records": len(rows),
        "db": db,
        "png": png,
        "wall_s": time.monotonic() - started,
    }
    return hours, facts


def _fresh_outputs(out):
    """(history.db, day.png) in out, with any earlier run's files removed."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / "history.db"
    png = out / "day.png"
    for old in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm"), png):
        old.unlink(missing_ok=True)  # a fresh history: the demo's device starts at seq 0
    return db, png


def _simulate_and_sync(hours, db, say, log):
    """Deploy to the simulated board, run the day (filling each hour's true register
    deltas), sync into db; returns how many records the board holds."""
    from host.deploy import deploy_with_key
    from host.sim.board import BoardError
    from host.sim.meter import SimMeter
    from host.sim.run import Simulation
    from host.sim.site import SiteConfig

    with tempfile.TemporaryDirectory(prefix="netmeter-demo-") as tmp:
        keys = Path(tmp) / "keys"
        deployed = {}

        def deployer(device, board, config):
            say("deploying the firmware with mpremote to %s (mpy-cross, %s)" % (device, board))
            cfg, path, _kept = deploy_with_key(device, board, config, DEVICE_ID, keys)
            deployed["key"] = path
            say("device %s: new link key on the board and in %s" % (cfg["device_id"], path))

        say("starting the simulated meter (household, 6 kW PV, 3 phases) and board")
        meter = SimMeter(SiteConfig(seed=SITE_SEED))
        sim = Simulation(Path(tmp) / "board", CONFIG, meter, start_ms=0)
        try:
            try:
                sim.start(deployer=deployer)
            except BoardError as exc:
                raise DemoError("the simulated board did not start: %s" % exc) from None
            _run_day(sim, hours, say)
            on_board = len(sim.records())
            say("host sync --device %s --db %s" % (sim.board.device, db))
            synced(sim.board.device, db, deployed["key"], log)
        finally:
            sim.stop()
    return on_board


def _run_day(sim, hours, say):
    """Run HOURS simulated hours, noting each hour's true register deltas in hours."""
    from host.sim.site import HOUR_MS

    say(
        "running %d simulated hours: %d s polls, %d-minute intervals, registers billed, "
        "power and pulses cross-checking" % (HOURS, POLL_S, INTERVAL_MIN)
    )
    t_run = time.monotonic()
    registers = [register_mwh(sim.server)]
    for h in range(HOURS):
        sim.run((h + 1) * HOUR_MS, POLL_S * 1000)
        registers.append(register_mwh(sim.server))
        if (h + 1) % 6 == 0:
            say("simulated %02d:00 (%.1f s)" % (h + 1, time.monotonic() - t_run))
    for h in range(HOURS):
        hours[h].true_plus = registers[h + 1][0] - registers[h][0]
        hours[h].true_minus = registers[h + 1][1] - registers[h][1]


def _verified_rows(db, on_board):
    """The device's rows in db, after checking the history verifies and holds them all."""
    from host.history import History

    with History(db, create=False) as history:
        rows = list(history.rows(DEVICE_ID))
        problems = history.verify(DEVICE_ID)
    if problems:
        raise DemoError("history.db does not verify: %s" % problems[0])
    if len(rows) != on_board:
        raise DemoError("synced %d records, the board holds %d" % (len(rows), on_board))
    return rows


def _bin_by_hour(rows, hours):
    """Add each row's energy, count and flags to its hour of the first day; returns the day."""
    day0 = None
    for row in rows:
        start = datetime.datetime.fromtimestamp(row["start_utc"], datetime.UTC)
        day0 = day0 or start.date()
        h = start.hour if start.date() == day0 else HOURS  # past midnight: not this day
        if h >= HOURS:
            raise DemoError("record seq %d starts at %s, after the day" % (row["seq"], start))
        hours[h].a_plus += row["a_plus"]
        hours[h].a_minus += row["a_minus"]
        hours[h].records += 1
        for name in row["flag_names"]:
            hours[h].flags[name] = hours[h].flags.get(name, 0) + 1
    return day0


def synced(device, db, key_file, log):
    """`host sync`'s library path: pull every record into db with the deployed key, ACK."""
    from host.history import History
    from host.link import Link, LinkError, load_key
    from host.sync import SyncError, sync, text_progress

    progress = text_progress(log)
    try:
        with Link.open(device, key=load_key(key_file), timeout=2.0) as link, History(db) as h:
            result = sync(link, h, progress=progress)
    except (LinkError, SyncError) as exc:
        raise DemoError("host sync failed: %s" % exc) from None
    finally:
        progress.end()
    for line in result.summary():
        print(line, file=log, flush=True)
    return result


def kwh(mwh):
    return "%.3f" % (mwh / 1_000_000)


def table(hours, facts):
    """The summary: one row per hour, the totals, the meter's truth beside them."""
    head = (
        "hour UTC |  import kWh  export kWh     net kWh |  meter imp  meter exp | flags seen",
        "-" * 86,
    )
    lines = [
        "netmeter demo: %s (simulated), household with 6 kW PV, %d records of %d minutes"
        % (facts["day"], facts["records"], INTERVAL_MIN),
        "device: registers billed, power and S0 pulses cross-checking; "
        "meter: its energy registers (truth)",
        "",
        *head,
    ]
    for h, hour in enumerate(hours):
        flags = ", ".join(
            name if n == 1 else "%s x%d" % (name, n) for name, n in sorted(hour.flags.items())
        )
        lines.append(
            "%02d:00    | %11s %11s %11s | %10s %10s | %s"
            % (
                h,
                kwh(hour.a_plus),
                kwh(hour.a_minus),
                kwh(hour.a_plus - hour.a_minus),
                kwh(hour.true_plus),
                kwh(hour.true_minus),
                flags or "-",
            )
        )
    imp = sum(h.a_plus for h in hours)
    exp = sum(h.a_minus for h in hours)
    t_imp = sum(h.true_plus for h in hours)
    t_exp = sum(h.true_minus for h in hours)
    same = (imp, exp) == (t_imp, t_exp)
    lines.append(head[1])
    lines.append(
        "total    | %11s %11s %11s | %10s %10s | %s"
        % (
            kwh(imp),
            kwh(exp),
            kwh(imp - exp),
            kwh(t_imp),
            kwh(t_exp),
            "equal to the meter" if same else "DIFFERS from the meter",
        )
    )
    lines.append("")
    lines.append(
        "history: %s (%d records, CRCs and hash chain verified); plot: %s"
        % (facts["db"], facts["records"], facts["png"])
    )
    lines.append("wall time: %.1f s for %d simulated hours" % (facts["wall_s"], HOURS))
    return lines, same


def mismatches(hours):
    """Hours whose records differ from the meter's register deltas."""
    return [
        "%02d:00" % h
        for h, hour in enumerate(hours)
        if (hour.a_plus, hour.a_minus) != (hour.true_plus, hour.true_minus)
    ]
