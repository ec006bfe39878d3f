"""Power-cut torture on the simulated board: hundreds of SIGKILLs at random points of a
simulated day, during record appends and checkpoint writes among them, each followed by a
restart. Afterwards nothing written is lost or altered, seq is contiguous, the chain
verifies end to end, and the energy equals the meter's truth (exact from registers, within
the stated bound from pulses)."""

import os
import random
import sys
import time
from pathlib import Path

import pytest

from host.sim.meter import SimMeter
from host.sim.run import Simulation
from host.sim.site import DAY_MS, HOUR_MS, MINUTE_MS, SiteConfig
from shared.record import POWER_DOWN, SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware"))
from netmeter.repair import open_store, verify  # noqa: E402 - the firmware's own, on CPython
from netmeter.store import RecordStore  # noqa: E402

UJ_PER_WH = 3_600_000_000
POLL_MS = 30_000
CHECKPOINT_MS = 60_000
CONFIG = {
    "poll_period_s": POLL_MS // 1000,
    "checkpoint_s": CHECKPOINT_MS // 1000,
    "rs485": {"baud": 115200},
    "netting": {"sources": ["registers", "pulses"], "billing": "registers", "interval_min": 15},
}
KINDS = (
    "anywhere",  # SIGKILL at a random instant while the board handles a step
    "before-checkpoint",
    "torn-checkpoint",  # ... and the temp file was being written
    "after-checkpoint",  # between the checkpoint (holding the new records) and the append
    "after-append",
    "torn-append",  # ... the record being appended is only partly on the flash
)


def raw_records(board_dir):
    out = {}
    for segment in sorted((board_dir / "records").glob("*.seg")):
        data = segment.read_bytes()
        for i in range(0, len(data) - SIZE + 1, SIZE):
            record = data[i : i + SIZE]
            out[int.from_bytes(record[4:8], "little")] = record
    return out


def tear_last_record(board_dir, rng):
    segment = sorted((board_dir / "records").glob("*.seg"))[-1]
    size = segment.stat().st_size
    os.truncate(segment, size - rng.randint(1, SIZE - 1))


def tear_checkpoint(board_dir, rng):
    whole = (board_dir / "checkpoint.json").read_bytes()
    (board_dir / "checkpoint.json.tmp").write_bytes(whole[: rng.randint(1, len(whole) - 1)])


def register_wh(meter, t):
    return meter.truth_at(t).vector.a_plus // UJ_PER_WH


@pytest.fixture(scope="module")
def tortured(tmp_path_factory):
    board_dir = tmp_path_factory.mktemp("torture")
    meter = SimMeter(SiteConfig(seed=11))
    rng = random.Random(2026)
    kills, seen, by_kind, cut_times = 0, {}, {}, []
    started = time.monotonic()
    with Simulation(board_dir, CONFIG, meter) as sim:
        end_of_cuts = DAY_MS - 2 * HOUR_MS  # the last two hours run clean, closing live
        while kills < 200:
            for _ in range(rng.randint(0, 1)):
                sim.step_to(sim.now_ms + POLL_MS)
            if sim.now_ms >= end_of_cuts:
                break
            seen.update(raw_records(board_dir))
            kind = rng.choice(KINDS)
            damage = None
            if kind == "anywhere":
                sim.now_ms += POLL_MS
                meter.advance_to(sim.now_ms)
                sim.board.send_run(sim.epoch_ms + sim.now_ms)
                time.sleep(rng.uniform(0, 0.004))
            else:
                point = kind.replace("torn-", "before-" if "checkpoint" in kind else "after-")
                sim.board.arm(point)
                while sim.step_to_cut(sim.now_ms + POLL_MS) is None:
                    pass
                if kind == "torn-append":
                    damage = lambda d: tear_last_record(d, rng)  # noqa: E731
                elif kind == "torn-checkpoint":
                    damage = lambda d: tear_checkpoint(d, rng)  # noqa: E731
            cut_times.append(sim.now_ms)
            sim.power_cut(rng.choice((0, 0, rng.randint(1, 10) * MINUTE_MS)), damage)
            kills += 1
            by_kind[kind] = by_kind.get(kind, 0) + 1
        sim.run(DAY_MS, POLL_MS)
        final = raw_records(board_dir)
        store = RecordStore(str(board_dir / "records"), "unix_sim")
        report = open_store(store)
        problems = verify(store)
        records = sim.records()
    wall = time.monotonic() - started
    return {
        "kills": kills,
        "by_kind": by_kind,
        "seen": seen,
        "final": final,
        "report": report,
        "problems": problems,
        "records": records,
        "meter": meter,
        "cut_times": cut_times,
        "sim": sim,
        "wall": wall,
    }


def test_at_least_200_power_cuts_at_every_kind_of_point(tortured, capsys):
    with capsys.disabled():
        print(
            "\npower cuts: %d in %.0f s (%s); records: %d"
            % (tortured["kills"], tortured["wall"], tortured["by_kind"], len(tortured["final"]))
        )
    assert tortured["kills"] >= 200
    assert set(tortured["by_kind"]) == set(KINDS)


def test_no_record_that_was_written_is_lost_or_altered(tortured):
    final = tortured["final"]
    for seq, raw in tortured["seen"].items():
        assert final.get(seq) == raw, "seq %d lost or altered" % seq


def test_seq_is_contiguous_and_the_chain_verifies_end_to_end(tortured):
    seqs = sorted(tortured["final"])
    assert seqs == list(range(len(seqs)))
    assert tortured["problems"] == [] and tortured["report"]["problems"] == []


def test_register_energy_equals_the_meter_truth_exactly(tortured):
    records, sim, meter = tortured["records"], tortured["sim"], tortured["meter"]
    t_end = sim.meter_time(records[-1])[1]
    assert (
        sum(r.a_plus for r in records)
        == (register_wh(meter, t_end) - register_wh(meter, 0)) * 1000
    )
    assert sum(1 for r in records if r.flags & POWER_DOWN) >= tortured["kills"] // 4


def test_pulse_loss_stays_within_the_stated_bound(tortured):
    # README: pulses are lost while the board is off, and those counted since the last
    # checkpoint (one checkpoint period plus one poll at most) before each cut.
    records, sim, meter = tortured["records"], tortured["sim"], tortured["meter"]
    t_end = sim.meter_time(records[-1])[1]
    started = meter.s0["import"].pulses_started
    lost = started(t_end) - sum(r.pulses_import for r in records)
    bound = sim.outage_pulses["import"]
    for t in tortured["cut_times"]:
        bound += started(t) - started(max(0, t - CHECKPOINT_MS - POLL_MS))
    assert 0 <= lost <= bound, (lost, bound)
