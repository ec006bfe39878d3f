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


# -- power across a sign change: what the samples can know -----------------------------------

MWH = 7200000  # half-mW-ms per mWh (energy.HALF_MW_MS_PER_MWH)


def test_a_span_that_changes_sign_leaves_its_split_open_by_the_larger_sample():
    from netmeter.energy import A_MINUS, A_PLUS, SPLIT_MINUS, SPLIT_PLUS, PowerSpan

    # +3 kW then -1 kW 10 s later: the import lies in [0, 3 kW x 10 s], the export in
    # [0, 1 kW x 10 s], whatever path the power took between the samples.
    span = PowerSpan(0, 10000, [(3000000, -1000000, 0, 0)])
    out = span.amounts_between(0, 10000)
    assert out[A_PLUS] == 2 * 1000000 * 10000 and out[A_MINUS] == 0  # the net, 2 x area
    assert out[SPLIT_PLUS] == 2 * 3000000 * 10000
    assert out[SPLIT_MINUS] == 2 * 1000000 * 10000
    # cut in two pieces, the bound is per piece and adds up to the whole span's
    span = PowerSpan(0, 10000, [(-1000000, 3000000, 0, 0)])
    first, second = span.take(4000), span.take(10000)
    assert first[SPLIT_PLUS] + second[SPLIT_PLUS] == 2 * 3000000 * 10000
    assert first[SPLIT_MINUS] == 2 * 1000000 * 4000


def test_a_span_without_a_sign_change_leaves_nothing_open():
    from netmeter.energy import SPLIT_MINUS, SPLIT_PLUS, PowerSpan

    for p0, p1 in ((3000000, 1000000), (-5, -7), (0, -1000000), (1000000, 0), (0, 0)):
        out = PowerSpan(0, 10000, [(p0, p1, 0, 0)]).amounts_between(0, 10000)
        assert out[SPLIT_PLUS] == 0 and out[SPLIT_MINUS] == 0, (p0, p1)


def test_the_bound_holds_for_any_step_between_the_samples():
    # The power steps from p0 to p1 at a random instant s (and, second case, is p0 until s,
    # p1 after, with the samples taken either side): booked A+ and A- are within the bound
    # of the true import and export for every step time, piece and sign.
    from dualtest import Rng
    from netmeter.energy import A_MINUS, A_PLUS, SPLIT_MINUS, SPLIT_PLUS, PowerSpan

    rng = Rng(12)
    for _ in range(2000):
        dt = rng.between(1000, 60000)
        p0 = rng.between(1, 5000000) * (1 if rng.chance(50) else -1)
        p1 = -rng.between(1, 5000000) if p0 > 0 else rng.between(1, 5000000)
        s = rng.between(0, dt)
        a = rng.between(0, dt - 1)
        b = rng.between(a + 1, dt)
        # true energy in (a, b] at p0 before s and p1 after, in half-mW-ms
        before = max(0, min(b, s) - a)
        after = (b - a) - before
        true_plus = 2 * (max(p0, 0) * before + max(p1, 0) * after)
        true_minus = 2 * (max(-p0, 0) * before + max(-p1, 0) * after)
        out = PowerSpan(0, dt, [(p0, p1, 0, 0)]).amounts_between(a, b)
        assert abs(out[A_PLUS] - true_plus) <= out[SPLIT_PLUS], (p0, p1, dt, s, a, b)
        assert abs(out[A_MINUS] - true_minus) <= out[SPLIT_MINUS], (p0, p1, dt, s, a, b)


def seesaw(acc, poll_s, watts=1000, minutes=30, import_share=1.0, pulse_share=1.0):
    """+watts for a minute, -watts the next, sampled every poll_s seconds; registers count the
    true gross import and export in Wh (import_share of the import reaches them), pulses at
    1000 imp/kWh (pulse_share of them reach the device)."""
    records = []
    imp = exp = 0  # true mWh
    seen = [0, 0]
    for i in range(minutes * 60 // poll_s + 1):
        t = T0 + i * poll_s * 1000
        if i:
            for k in range(poll_s):  # 1 s ticks; the power of second j is that of its minute
                if ((i - 1) * poll_s + k) // 60 % 2 == 0:
                    imp += watts * 1000 // 3600
                else:
                    exp += watts * 1000 // 3600
        p = watts if (i * poll_s) // 60 % 2 == 0 else -watts
        due = [int(imp // 1000 * pulse_share), int(exp // 1000 * pulse_share)]
        pulses = (due[0] - seen[0], due[1] - seen[1])
        seen = due
        registers = (int(imp * import_share) // 1000, exp // 1000)
        records += acc.update(t, power=[(float(p), 0.0)], registers=registers, pulses=pulses)
    return records


def test_a_seesaw_site_raises_no_false_mismatch_at_any_poll_period():
    for poll_s in (1, 10, 15, 30):
        acc = accumulator(("registers", "pulses", "power"), "registers")
        records = seesaw(acc, poll_s)
        assert len(records) == 2
        assert [r.flags & SOURCE_MISMATCH for r in records] == [0, 0], poll_s
        # 8 minutes of import and 7 of export in the first quarter hour, billed from registers
        assert records[0].a_plus == 132000 and records[0].a_minus == 116000, poll_s


def test_a_seesaw_site_without_the_bound_would_raise_them():
    # The same data with the power's split taken as exact (what the 2 % rule alone did).
    acc = accumulator(("registers", "power"), "registers")
    power = acc.sources["power"]
    close = power.close
    power.close = lambda: close()[:6]
    records = seesaw(acc, 30)
    assert all(r.flags & SOURCE_MISMATCH for r in records)


def test_on_a_seesaw_site_lost_pulses_and_a_low_register_are_still_flagged():
    # The power's open split widens only the comparisons with power: registers against S0
    # stay at 2 %, so 10 % lost pulses or a register counting 10 % low are caught.
    acc = accumulator(("registers", "pulses", "power"), "registers")
    records = seesaw(acc, 30, pulse_share=0.9)
    assert all(r.flags & SOURCE_MISMATCH for r in records)
    acc = accumulator(("registers", "pulses", "power"), "registers")
    records = seesaw(acc, 30, import_share=0.9)
    assert all(r.flags & SOURCE_MISMATCH for r in records)


def test_at_1_s_polls_power_alone_still_catches_a_register_10_percent_low():
    # 1 s polls leave 15 x 1 kW x 1 s = 4.2 Wh open per quarter hour, not 13 Wh.
    acc = accumulator(("registers", "power"), "registers")
    records = seesaw(acc, 1, import_share=0.9)
    assert all(r.flags & SOURCE_MISMATCH for r in records)
    assert acc.closed_by_source["power"][6:] == [4167, 4167]


def test_power_compared_alone_keeps_its_2_percent_where_the_sign_holds():
    # A steady import never changes sign: nothing is open, a 5 % low register is flagged.
    acc = accumulator(("registers", "power"), "registers")
    records = run(acc, 900, 3000, phases=[(2850, 0.0)])
    assert records[0].flags & SOURCE_MISMATCH
