# Cross-check between sources: the billing source's A+/A- against every other source's.
from dualtest import raises
from netmeter.netting import make_accumulator
from shared.config import ConfigInvalid, validate
from shared.record import PARTIAL, SOURCE_MISMATCH

HOUR = 3600000
T0 = 1700000000000 // HOUR * HOUR  # an hour boundary (UTC)


def accumulator(sources, billing, **extra):
    cfg = {"interval_min": 15, "sources": sources, "billing": billing}
    cfg.update(extra)
    return make_accumulator(cfg)


def run(acc, seconds, watts, pulse_share=1.0, phases=None, export=False, start=T0):
    """A steady flow of `watts` for `seconds`, read every second: registers in Wh, pulses at
    1000 imp/kWh (pulse_share of them reach the device), power per phase."""
    records = []
    pulses_seen = 0
    for i in range(seconds + 1):
        t = start + i * 1000
        wh = watts * i // 3600
        counts = (0, wh) if export else (wh, 0)
        due = int(wh * pulse_share)
        new, pulses_seen = due - pulses_seen, due
        power = phases or [(-watts if export else watts, 0.0)]
        records += acc.update(
            t,
            registers=counts,
            pulses=(0, new) if export else (new, 0),
            power=[(float(p), float(q)) for p, q in power],
        )
    return records


def test_sources_that_agree_raise_no_flag():
    acc = accumulator(("registers", "pulses", "power"), "registers")
    records = run(acc, 3600, 3000)
    assert len(records) == 4
    assert [r.flags & SOURCE_MISMATCH for r in records] == [0, 0, 0, 0]
    assert records[0].a_plus == 750000


def test_lost_pulses_flag_a_mismatch():
    acc = accumulator(("registers", "pulses"), "registers")
    records = run(acc, 1800, 3000, pulse_share=0.9)
    assert all(r.flags & SOURCE_MISMATCH for r in records)
    # the billing source's energy is still in the record
    assert records[0].a_plus == 750000 and records[0].pulses_import < 700


def test_lost_export_pulses_flag_a_mismatch():
    acc = accumulator(("registers", "pulses"), "registers")
    records = run(acc, 900, 3000, pulse_share=0.9, export=True)
    assert records[0].flags & SOURCE_MISMATCH and records[0].a_minus == 750000


def test_inverted_ct_power_against_registers_flags_a_mismatch():
    # Registers count 3 kW import; the power readings have L3 backwards (+1, +1, -1 kW).
    acc = accumulator(("registers", "power"), "registers")
    phases = [(1000, 0), (1000, 0), (-1000, 0)]
    records = run(acc, 900, 3000, phases=phases)
    assert records[0].flags & SOURCE_MISMATCH


def test_inverted_ct_with_power_billing_flags_too():
    acc = accumulator(("power", "registers"), "power")
    records = run(acc, 900, 3000, phases=[(1000, 0), (1000, 0), (-1000, 0)])
    assert records[0].flags & SOURCE_MISMATCH and records[0].a_plus == 250000


def test_a_difference_within_the_percentage_is_accepted():
    # 1.5 % of the pulses lost: inside the default 2 %.
    acc = accumulator(("registers", "pulses"), "registers")
    records = run(acc, 900, 3000, pulse_share=0.985)
    assert not records[0].flags & SOURCE_MISMATCH
    acc = accumulator(("registers", "pulses"), "registers", crosscheck_percent=1)
    records = run(acc, 900, 3000, pulse_share=0.985)
    assert records[0].flags & SOURCE_MISMATCH


def test_low_energy_intervals_do_not_false_alarm():
    # 12 W for 15 minutes is 3 Wh: half the pulses lost is 1-2 pulses, inside the floor.
    acc = accumulator(("registers", "pulses"), "registers")
    records = run(acc, 900, 12, pulse_share=0.5)
    assert records[0].a_plus == 3000
    assert not records[0].flags & SOURCE_MISMATCH


def test_cross_check_can_be_switched_off():
    acc = accumulator(("registers", "pulses"), "registers", crosscheck_percent=None)
    records = run(acc, 900, 3000, pulse_share=0.5)
    assert not records[0].flags & SOURCE_MISMATCH


def test_an_interval_flagged_otherwise_is_not_cross_checked():
    # The first interval starts mid-way (PARTIAL): pulses counted before the first reading
    # arrive with it, so the sources saw different spans and are not compared.
    acc = accumulator(("registers", "pulses"), "registers")
    records = run(acc, 600, 3000, pulse_share=0.5, start=T0 + 300000)
    assert records[0].flags & PARTIAL and not records[0].flags & SOURCE_MISMATCH


def test_cross_check_settings_are_validated():
    validate({"netting": {"crosscheck_percent": 0.5, "crosscheck_floor_mwh": 2000}})
    validate({"netting": {"crosscheck_percent": None}})
    exc = raises(ConfigInvalid, validate, {"netting": {"crosscheck_percent": -1}})
    assert "crosscheck_percent = -1" in str(exc)
    exc = raises(ConfigInvalid, validate, {"netting": {"crosscheck_floor_mwh": 1.5}})
    assert "crosscheck_floor_mwh = 1.5" in str(exc)
