# The netting core: quadrants, summation, integration, counters, pulses, intervals, net.
from dualtest import raises
from netmeter.energy import Tally, counter_delta, pulse_constant
from netmeter.netting import make_accumulator
from netmeter.quadrant import QI, QII, QIII, QIV, quadrant
from shared.record import (
    BAD_READING,
    CLOCK_ADJUSTED,
    DATA_INVALID,
    ESTIMATED,
    METER_RESET,
    NET_RESET,
    PARTIAL,
    RECOVERED,
)

HOUR = 3600000
T0 = 1700000000000 // HOUR * HOUR  # an hour boundary (UTC)


def run(acc, start, seconds, step_s=1, **readings_at):
    """Feed one reading per step; readings_at maps a source name to a function of t."""
    records = []
    for i in range(0, seconds + 1, step_s):
        t = start + i * 1000
        kwargs = {}
        for name in readings_at:
            kwargs[name] = readings_at[name](t)
        records += acc.update(t, **kwargs)
    return records


def test_quadrants_by_sign():
    assert quadrant(5, 3) == QI
    assert quadrant(-5, 3) == QII
    assert quadrant(-5, -3) == QIII
    assert quadrant(5, -3) == QIV


def test_quadrant_rule_for_zeros():
    assert quadrant(0, 0) == QI
    assert quadrant(0, -1) == QIV
    assert quadrant(-1, 0) == QII
    assert quadrant(1, 0) == QI


def worked_example(summation):
    acc = make_accumulator(
        {"interval_min": 60, "sources": ("power",), "billing": "power", "summation": summation}
    )
    phases = [(1000.0, 0.0), (1000.0, 0.0), (-2000.0, 0.0)]
    return run(acc, T0, 3600, power=lambda t: phases)


def test_vector_summation_worked_example_from_facts():
    (rec,) = worked_example("vector")
    assert (rec.a_plus, rec.a_minus, rec.net) == (0, 0, 0)


def test_arithmetic_summation_worked_example_from_facts():
    (rec,) = worked_example("arithmetic")
    assert (rec.a_plus, rec.a_minus, rec.net) == (2000000, 2000000, 0)


def test_reactive_energy_booked_per_quadrant():
    acc = make_accumulator(
        {"interval_min": 60, "sources": ("power",), "billing": "power", "summation": "arithmetic"}
    )
    phases = [(1000.0, 500.0), (-1000.0, 200.0), (-400.0, -300.0), (800.0, -100.0)]
    (rec,) = run(acc, T0, 3600, power=lambda t: phases)
    assert (rec.q1, rec.q2, rec.q3, rec.q4) == (500000, 200000, 300000, 100000)
    assert (rec.a_plus, rec.a_minus) == (1800000, 1400000)


def test_trapezoidal_integration_of_a_ramp_is_exact():
    # P ramps 0 -> 3600 W over an hour: the trapezoid gives exactly 1.8 kWh.
    acc = make_accumulator(
        {"interval_min": 60, "sources": ("power",), "billing": "power", "max_gap_s": 60}
    )
    (rec,) = run(acc, T0, 3600, step_s=60, power=lambda t: [((t - T0) / 1000.0, 0.0)])
    assert rec.a_plus == 1800000


def test_span_cut_at_boundary_keeps_total():
    # One long span (20 s) straddles the boundary; halves go to each side, nothing is lost.
    acc = make_accumulator({"interval_min": 1, "sources": ("power",), "billing": "power"})
    recs = acc.update(T0 + 50000, power=[(3600.0, 0.0)])
    recs += acc.update(T0 + 70000, power=[(3600.0, 0.0)])
    recs += acc.close_now(T0 + 70000)
    assert [r.a_plus for r in recs] == [10000, 10000]
    assert recs[0].flags & PARTIAL


def test_sample_gap_beyond_limit_is_flagged_not_integrated():
    acc = make_accumulator(
        {"interval_min": 1, "sources": ("power",), "billing": "power", "max_gap_s": 30}
    )
    recs = acc.update(T0, power=[(3600.0, 0.0)])
    recs += acc.update(T0 + 10000, power=[(3600.0, 0.0)])
    recs += acc.update(T0 + 100000, power=[(3600.0, 0.0)])  # 90 s gap
    recs += acc.update(T0 + 120000, power=[(3600.0, 0.0)])
    # 10 s before the gap, nothing inside it, 20 s after it.
    assert [r.a_plus for r in recs] == [10000, 20000]
    assert recs[0].flags & DATA_INVALID and recs[1].flags & DATA_INVALID


def test_counter_delta_handles_32_bit_wrap():
    assert counter_delta(0xFFFFFFF0, 0x10, 32, 1000) == (0x20, 0)


def test_counter_delta_handles_16_bit_wrap():
    assert counter_delta(0xFFF0, 0x05, 16, 100) == (0x15, 0)


def test_counter_decrease_that_is_not_a_wrap_is_a_reset():
    assert counter_delta(5000, 10, 32, 1000) == (0, METER_RESET)
    assert counter_delta(5000, 10, None, 1000) == (0, METER_RESET)


def test_counter_absurd_rise_is_rejected():
    assert counter_delta(5000, 5000 + 10**6, 32, 1000) == (None, BAD_READING)


def register_acc(**cfg):
    base = {"interval_min": 15, "sources": ("registers",), "billing": "registers"}
    base.update(cfg)
    return make_accumulator(base)


def test_register_deltas_become_interval_energy():
    acc = register_acc()
    recs = run(acc, T0, 1800, step_s=10, registers=lambda t: ((t - T0) // 10000, 7))
    assert [r.a_plus for r in recs] == [90000, 90000]  # 90 Wh each, in mWh
    assert [r.a_minus for r in recs] == [0, 0]


def test_register_reset_is_flagged_and_books_no_energy():
    acc = register_acc()
    recs = acc.update(T0, registers=(1000, 0))
    recs += acc.update(T0 + 10000, registers=(1010, 0))
    recs += acc.update(T0 + 20000, registers=(3, 0))  # meter reset
    recs += acc.update(T0 + 30000, registers=(13, 0))
    recs += acc.close_now(T0 + 30000)
    (rec,) = recs
    assert rec.a_plus == 20000
    assert rec.flags & METER_RESET


def test_register_wrap_books_the_true_delta():
    acc = register_acc()
    recs = acc.update(T0, registers=(0xFFFFFFFE, 0))
    recs += acc.update(T0 + 10000, registers=(3, 0))
    recs += acc.close_now(T0 + 10000)
    assert recs[0].a_plus == 5000 and not recs[0].flags & METER_RESET


def test_absurd_register_jump_is_rejected_then_accepted_as_new_base_if_it_persists():
    acc = register_acc()
    recs = acc.update(T0, registers=(100, 0))
    recs += acc.update(T0 + 1000, registers=(900000000, 0))  # garbled or a new meter
    recs += acc.update(T0 + 2000, registers=(900000001, 0))  # it persists: a new base
    recs += acc.update(T0 + 3000, registers=(900000002, 0))
    recs += acc.close_now(T0 + 3000)
    (rec,) = recs
    assert rec.a_plus == 1000
    assert rec.flags & BAD_READING and rec.flags & METER_RESET


def test_failed_read_adds_no_energy_and_is_recovered_later():
    acc = register_acc(interval_min=1)
    recs = acc.update(T0, registers=(0, 0))
    recs += acc.update(T0 + 50000, registers=(50, 0))
    recs += acc.update(T0 + 60000, registers=None)  # read failed at the boundary
    recs += acc.update(T0 + 70000, registers=(70, 0))
    recs += acc.close_now(T0 + 70000)
    assert [r.a_plus for r in recs] == [50000, 20000]
    assert recs[0].flags & DATA_INVALID
    assert recs[1].flags & RECOVERED


def test_gap_in_registers_is_apportioned_by_time_and_estimated():
    acc = register_acc(interval_min=5, max_gap_s=30)
    recs = acc.update(T0, registers=(0, 0))
    recs += acc.update(T0 + 15 * 60000, registers=(3000, 0))  # 15 minutes without readings
    assert [r.a_plus for r in recs] == [1000000, 1000000, 1000000]
    assert all(r.flags & ESTIMATED for r in recs)


def test_jump_over_several_boundaries_closes_each_interval_contiguously():
    acc = register_acc(interval_min=5)
    recs = acc.update(T0 + 123456, registers=(0, 0))
    recs += acc.update(T0 + 123456 + 3600000, registers=(0, 0))
    assert len(recs) == 12
    assert recs[0].flags & PARTIAL and recs[0].start_utc == (T0 + 123456) // 1000
    for a, b in zip(recs, recs[1:]):
        assert b.start_utc == a.start_utc + a.duration_s
        assert b.start_utc % 300 == 0 and b.duration_s == 300
        assert b.seq == a.seq + 1


def test_pulse_constants_in_mwh():
    assert pulse_constant(imp_per_kwh=1000) == (1000000, 1000)
    assert pulse_constant(wh_per_pulse=2.5) == (25000, 10)
    assert Tally(*pulse_constant(imp_per_kwh=3200)).num == 1000000


def test_pulses_carry_remainder_without_drift():
    for imp in (1000, 400, 800, 1600, 3200):
        acc = make_accumulator(
            {
                "interval_min": 1,
                "sources": ("pulses",),
                "billing": "pulses",
                "pulse_imp_per_kwh": imp,
            }
        )
        acc.update(T0, pulses=(0, 0))
        per_pulse = 1000000 // imp
        count = pulses = a_plus = a_minus = 0
        for i in range(1, 1001):
            for r in acc.update(T0 + i * 60000, pulses=(1, 3)):
                assert per_pulse <= r.a_plus <= per_pulse + 1
                count += 1
                pulses += r.pulses_import
                a_plus += r.a_plus
                a_minus += r.a_minus
        assert count == 1000 and pulses == 1000
        assert a_plus == 1000 * 1000000 // imp
        assert a_minus == 3000 * 1000000 // imp


def test_pulses_at_2_5_wh_per_pulse():
    acc = make_accumulator(
        {"interval_min": 1, "sources": ("pulses",), "billing": "pulses", "pulse_wh_per_pulse": 2.5}
    )
    recs = acc.update(T0, pulses=(0, 0))
    for i in range(1, 4):
        recs += acc.update(T0 + i * 60000, pulses=(1, 0))
    assert [r.a_plus for r in recs] == [2500, 2500, 2500]


def test_clock_step_forward_closes_and_flags():
    acc = register_acc(interval_min=15)
    recs = acc.update(T0 + 60000, registers=(0, 0))
    recs += acc.update(T0 + 120000, registers=(10, 0))
    recs += acc.step_clock(T0 + 3 * HOUR + 30000)
    recs += acc.update(T0 + 3 * HOUR + 40000, registers=(20, 0))
    recs += acc.update(T0 + 3 * HOUR + 15 * 60000, registers=(30, 0))
    assert recs[0].flags & CLOCK_ADJUSTED and recs[0].duration_s == 60
    assert recs[1].flags & CLOCK_ADJUSTED and recs[1].start_utc == (T0 + 3 * HOUR + 30000) // 1000
    assert [r.a_plus for r in recs] == [10000, 20000]


def test_clock_step_back_never_overlaps_or_goes_negative():
    acc = register_acc(interval_min=15)
    recs = acc.update(T0 + 600000, registers=(0, 0))
    recs += acc.update(T0 + 700000, registers=(5, 0))
    recs += acc.update(T0 + 100000, registers=(10, 0))  # time went back 10 minutes
    recs += acc.update(T0 + 900000, registers=(20, 0))
    recs += acc.update(T0 + 1800000, registers=(30, 0))
    assert len(recs) == 3
    for a, b in zip(recs, recs[1:]):
        assert b.start_utc >= a.start_utc + a.duration_s
    assert all(r.duration_s >= 0 for r in recs)
    assert recs[0].flags & CLOCK_ADJUSTED and recs[1].flags & CLOCK_ADJUSTED
    assert sum(r.a_plus for r in recs) == 30000


def test_net_is_signed_and_reset_net_keeps_history():
    acc = register_acc(interval_min=1)
    recs = acc.update(T0, registers=(0, 0))
    recs += acc.update(T0 + 60000, registers=(10, 30))
    assert recs[0].net == -20000 and acc.net_total == -20000
    acc.reset_net()
    recs += acc.update(T0 + 120000, registers=(50, 30))
    assert acc.net_total == 40000
    assert recs[1].flags & NET_RESET and not recs[0].flags & NET_RESET
    assert recs[0].net == -20000 and acc.seq == 2


def test_nan_inf_and_absurd_power_are_rejected_without_energy():
    acc = make_accumulator(
        {"interval_min": 1, "sources": ("power",), "billing": "power", "site_limit_w": 50000}
    )
    recs = acc.update(T0, power=[(3600.0, 0.0)])
    for bad in (float("nan"), float("inf"), -float("inf"), 1e9):
        recs += acc.update(T0 + 1000, power=[(bad, 0.0)])
    recs += acc.update(T0 + 2000, power=[(3600.0, 0.0)])
    recs += acc.close_now(T0 + 2000)
    (rec,) = recs
    assert rec.a_plus == 2000 and rec.flags & BAD_READING


def test_bad_configuration_is_refused_with_the_allowed_values():
    exc = raises(ValueError, make_accumulator, {"interval_min": 7})
    assert "allowed" in str(exc) and "15" in str(exc)
    exc = raises(ValueError, make_accumulator, {"summation": "sideways"})
    assert "vector" in str(exc)
