"""The simulated meter's physics: exact truth, quadrants, determinism, CT faults, real time."""

import os
import subprocess
import sys
import time

import pytest

from host.sim.energy import UJ_PER_MWH, Energy
from host.sim.meter import ARITHMETIC, SimMeter
from host.sim.site import DAY_MS, HOUR_MS, Site, SiteConfig

ODD_STEPS_MS = (1, 999, 1001, 12_345, 59_999, 60_001, 3_599_999, 777_777)


@pytest.fixture(scope="module")
def day_meter():
    meter = SimMeter()
    meter.advance_to(DAY_MS)
    return meter


def quadrant(p, q):
    if p >= 0:
        return 1 if q >= 0 else 4
    return 2 if q >= 0 else 3


def test_a_simulated_day_integrates_in_well_under_two_seconds():
    meter = SimMeter(SiteConfig(seed=987_654))  # a seed no other test uses: nothing cached
    start = time.perf_counter()
    meter.advance_to(DAY_MS)
    assert time.perf_counter() - start < 2.0


def test_vector_and_arithmetic_nets_equal_the_sum_of_phase_nets(day_meter):
    for t in (1, 7 * HOUR_MS + 123, 13 * HOUR_MS + 59_999, DAY_MS):
        truth = day_meter.truth_at(t)
        phase_net = sum(phase.net for phase in truth.phases)
        phase_reactive_net = sum(phase.r_plus - phase.r_minus for phase in truth.phases)
        assert truth.vector.net == phase_net == truth.arithmetic.net
        assert truth.vector.r_plus - truth.vector.r_minus == phase_reactive_net


def test_arithmetic_books_at_least_what_vector_books_and_the_excess_cancels(day_meter):
    truth = day_meter.truth()
    vector, arithmetic = truth.vector, truth.arithmetic
    assert arithmetic.a_plus >= vector.a_plus
    assert arithmetic.a_minus >= vector.a_minus
    excess = arithmetic.a_plus - vector.a_plus
    assert excess == arithmetic.a_minus - vector.a_minus
    # The default site has phases flowing opposite ways at times, so the two differ.
    assert excess > 0


def test_phase_energy_is_the_exact_integral_of_its_power(day_meter):
    t0 = 18 * HOUR_MS + 250
    span = day_meter.truth_between(t0, t0 + 500)  # inside one 1000 ms tick
    for (p, q), energy in zip(day_meter.power_at(t0), span.phases, strict=True):
        booked = Energy(a_plus=p * 500) if p >= 0 else Energy(a_minus=-p * 500)
        assert (energy.a_plus, energy.a_minus) == (booked.a_plus, booked.a_minus)
        assert energy.r_plus + energy.r_minus == abs(q) * 500


def test_spans_add_up_and_do_not_depend_on_the_step_sizes(day_meter):
    stepped = SimMeter()
    t = 0
    for step in ODD_STEPS_MS * 3:
        t += step
        stepped.advance_to(t)
        assert stepped.truth() == day_meter.truth_at(t)
    first = day_meter.truth_between(0, 5 * HOUR_MS + 17)
    second = day_meter.truth_between(5 * HOUR_MS + 17, 9 * HOUR_MS + 3)
    whole = day_meter.truth_between(0, 9 * HOUR_MS + 3)
    assert first.vector.plus(second.vector) == whole.vector
    assert stepped.metered() == stepped.truth().vector


def test_fine_ticks_keep_the_truth_exact_across_partial_ticks():
    meter = SimMeter(SiteConfig(tick_ms=100, seed=11))
    for t in (7 * HOUR_MS + 33, 7 * HOUR_MS + 150, 7 * HOUR_MS + 10 * 60_000 + 1):
        meter.advance_to(t)
        truth = meter.truth()
        assert meter.metered() == truth.vector
        assert truth.vector.net == sum(phase.net for phase in truth.phases)
    span = meter.truth_between(7 * HOUR_MS + 33, 7 * HOUR_MS + 150)  # 67 ms + 50 ms
    power_a, power_b = meter.power_at(7 * HOUR_MS + 33), meter.power_at(7 * HOUR_MS + 100)
    expected = sum(p * 67 for p, _ in power_a) + sum(p * 50 for p, _ in power_b)
    assert sum(phase.net for phase in span.phases) == expected


def test_all_four_quadrants_occur_in_a_default_day(day_meter):
    truth = day_meter.truth()
    for energy in truth.phases + (truth.vector,):
        assert min(energy.a_plus, energy.a_minus) > 0
        assert min(energy.r_q1, energy.r_q2, energy.r_q3, energy.r_q4) > 0
    seen = set()
    for t in range(0, DAY_MS, 60_000):
        for p, q in day_meter.power_at(t):
            seen.add(quadrant(p, q))
    assert seen == {1, 2, 3, 4}


@pytest.mark.parametrize("profile", ["household", "commercial"])
def test_single_phase_site_books_everything_on_l1(profile):
    meter = SimMeter(SiteConfig(phases=1, profile=profile))
    meter.advance_to(DAY_MS)
    truth = meter.truth()
    assert len(truth.phases) == 1
    assert truth.vector == truth.phases[0] == truth.arithmetic
    assert min(truth.vector) > 0  # import, export and all four reactive quadrants
    assert len(meter.instant().phases) == 1


def test_same_seed_gives_the_same_day_in_another_process_and_another_seed_does_not():
    probe = (
        "from host.sim.meter import SimMeter; from host.sim.site import SiteConfig\n"
        "m = SimMeter(SiteConfig(seed=7)); m.advance_to(43_200_017)\n"
        "print(repr((m.truth(), m.instant(), len(m.edges(0, m.now_ms)))))"
    )
    env = dict(os.environ, PYTHONHASHSEED="random")
    other = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    here = SimMeter(SiteConfig(seed=7))
    here.advance_to(43_200_017)
    assert other.stdout.strip() == repr(
        (here.truth(), here.instant(), len(here.edges(0, here.now_ms)))
    )
    elsewhere = SimMeter(SiteConfig(seed=8))
    elsewhere.advance_to(43_200_017)
    assert elsewhere.truth() != here.truth()


def test_hours_do_not_depend_on_the_order_they_are_generated_in():
    late_first = Site(SiteConfig(seed=3)).generate_hour(20)
    site = Site(SiteConfig(seed=3))
    for hour in range(20):
        site.generate_hour(hour)
    assert site.generate_hour(20) == late_first


def test_metered_counters_follow_the_meters_summation():
    for summation in ("vector", ARITHMETIC):
        meter = SimMeter(summation=summation)
        meter.advance_to(DAY_MS // 3 + 17)
        truth = meter.truth()
        expected = truth.vector if summation == "vector" else truth.arithmetic
        assert meter.metered() == expected


def test_inverted_ct_flips_the_phase_the_meter_shows_but_not_the_truth():
    meter = SimMeter()
    meter.advance_to(12 * HOUR_MS)
    before = meter.metered()
    meter.invert_ct(0)
    shown, true = meter.instant(), meter.instant(measured=False)
    assert shown.phases[0].p == -true.phases[0].p != 0
    assert shown.phases[0].q == -true.phases[0].q
    assert shown.phases[1] == true.phases[1]
    meter.advance_to(13 * HOUR_MS)
    truth = meter.truth_between(12 * HOUR_MS, 13 * HOUR_MS)
    metered = meter.metered().minus(before)
    assert metered.net != truth.vector.net
    # L1 exports at noon; inverted, the meter books it as import: net shifts by 2 * L1 net.
    assert metered.net - truth.vector.net == -2 * truth.phases[0].net
    meter.clear_ct_faults()
    assert meter.instant() == meter.instant(measured=False)


def test_attenuated_ct_scales_the_phase_down():
    meter = SimMeter()
    meter.advance_to(19 * HOUR_MS)
    meter.attenuate_ct(2, 20)
    shown, true = meter.instant(), meter.instant(measured=False)
    assert shown.phases[2].p == pytest.approx(0.8 * true.phases[2].p)
    assert shown.phases[2].i == pytest.approx(0.8 * true.phases[2].i)
    assert shown.phases[0] == true.phases[0]


def test_time_never_runs_backwards_and_truth_stops_at_now():
    meter = SimMeter()
    meter.advance_to(5000)
    with pytest.raises(ValueError):
        meter.advance_to(4999)
    with pytest.raises(ValueError):
        meter.truth_at(5001)


def test_real_time_mode_follows_the_wall_clock():
    meter = SimMeter()
    meter.advance_to(1000)
    assert meter.sync() == 1000  # virtual mode: sync does nothing
    meter.follow_wall_clock(speed=1000.0)
    time.sleep(0.05)
    now = meter.sync()
    assert 1000 + 40_000 <= now <= 1000 + 5_000_000
    assert meter.truth().t_ms == now


def test_counters_round_down_to_whole_mwh():
    energy = Energy(a_plus=UJ_PER_MWH * 3 - 1, a_minus=UJ_PER_MWH)
    assert energy.in_mwh() == Energy(a_plus=2, a_minus=1)
