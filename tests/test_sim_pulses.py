"""S0 pulse outputs of the simulated meter: exact counts, timing, width, bounce."""

import pytest

from host.sim.meter import SimMeter
from host.sim.pulses import EXPORT, IMPORT, Bounce, PulseChannel, S0Config
from host.sim.site import DAY_MS, HOUR_MS, SiteConfig

CONSTANTS = (1000, 400, 800, 1600, 3200)


def rising(edges, channel):
    return [t for t, name, level in edges if name == channel and level == 1]


@pytest.mark.parametrize("imp_per_kwh", CONSTANTS)
def test_pulses_equal_floor_of_energy_over_the_constant(imp_per_kwh):
    meter = SimMeter(s0=S0Config(imp_per_kwh=imp_per_kwh, width_ms=30))
    per_pulse = meter.s0[IMPORT].energy_per_pulse
    t = 0
    for step in (3_333_331, 7_654_321, 1, 29_999, 10_000_019) * 3:
        t += step
        meter.advance_to(t)
        edges = meter.edges(0, t)
        metered = meter.metered()
        for channel, energy in ((IMPORT, metered.a_plus), (EXPORT, metered.a_minus)):
            pending = meter.s0[channel].pending(t)
            assert len(rising(edges, channel)) + pending == energy // per_pulse
            assert pending <= 1  # the household never outruns a 30/30 ms output
    assert meter.s0[IMPORT].pulses > 1000 * imp_per_kwh // 1000  # over a kWh: not vacuous


def test_each_pulse_starts_the_first_ms_its_energy_is_reached():
    meter = SimMeter(s0=S0Config(imp_per_kwh=1000))
    meter.advance_to(DAY_MS // 2)
    channel = meter.s0[EXPORT]
    per_pulse = channel.energy_per_pulse
    checked = 0
    for n, start in enumerate(channel.starts[::97], start=0):
        number = n * 97 + 1
        before, at = meter.truth_at(start - 1), meter.truth_at(start)
        if at.vector.a_minus < number * per_pulse:
            continue  # queued behind the previous pulse: started later than its crossing
        assert before.vector.a_minus < number * per_pulse <= at.vector.a_minus
        checked += 1
    assert checked > 50


def test_pulses_have_the_configured_width_and_gap():
    meter = SimMeter(s0=S0Config(imp_per_kwh=3200, width_ms=35, gap_ms=40))
    meter.advance_to(14 * HOUR_MS)
    edges = [(t, level) for t, name, level in meter.edges(0, 14 * HOUR_MS) if name == EXPORT]
    assert len(edges) > 1000
    assert [level for _, level in edges] == [1, 0] * (len(edges) // 2)
    for (t_on, _), (t_off, _) in zip(edges[::2], edges[1::2], strict=True):
        assert t_off - t_on == 35
    for (t_off, _), (t_on, _) in zip(edges[1::2], edges[2::2], strict=False):
        assert t_on - t_off >= 40


def test_fast_flows_queue_pulses_and_the_count_still_balances():
    # 30 kW of commercial PV at 3200 imp/kWh is about 27 Hz: more than a 50/50 ms output.
    meter = SimMeter(SiteConfig(profile="commercial"), s0=S0Config(imp_per_kwh=3200))
    meter.advance_to(13 * HOUR_MS)
    channel = meter.s0[EXPORT]
    assert channel.pending(meter.now_ms) > 0
    started = len(rising(meter.edges(0, meter.now_ms), EXPORT))
    assert started + channel.pending(meter.now_ms) == (
        meter.metered().a_minus // channel.energy_per_pulse
    )


def test_bounce_adds_short_edges_only_when_enabled():
    plain = SimMeter(s0=S0Config(imp_per_kwh=1000))
    bouncy = SimMeter(s0=S0Config(imp_per_kwh=1000, bounce=Bounce(max_pairs=3, spacing_ms=1)))
    for meter in (plain, bouncy):
        meter.advance_to(8 * HOUR_MS)
    plain_edges = plain.edges(0, 8 * HOUR_MS)
    bouncy_edges = bouncy.edges(0, 8 * HOUR_MS)
    pulses = plain.s0[IMPORT].pulses
    assert pulses == bouncy.s0[IMPORT].pulses > 100
    assert len(rising(plain_edges, IMPORT)) == pulses
    assert len(rising(bouncy_edges, IMPORT)) > pulses
    import_edges = [t for t, name, _ in bouncy_edges if name == IMPORT]
    gaps = [b - a for a, b in zip(import_edges, import_edges[1:], strict=False)]
    assert min(gaps) == 1  # bursts 1 ms apart, far shorter than any real pulse
    # Each pulse still starts with a rise and the output settles closed, then open.
    levels = [level for _, name, level in bouncy_edges if name == IMPORT]
    assert levels[0] == 1 and levels[-1] == 0


def test_edge_windows_are_half_open_and_tile():
    meter = SimMeter()
    meter.advance_to(10 * HOUR_MS)
    edges = meter.edges(0, 10 * HOUR_MS)
    t_mid = edges[len(edges) // 2][0]
    first, second = meter.edges(0, t_mid), meter.edges(t_mid, 10 * HOUR_MS)
    assert first[-1][0] == t_mid
    assert first + second == edges
    with pytest.raises(ValueError):
        meter.edges(0, 10 * HOUR_MS + 1)


def test_s0_rejects_a_pulse_shorter_than_30_ms_and_an_inexact_constant():
    with pytest.raises(ValueError):
        PulseChannel(IMPORT, S0Config(width_ms=20))
    with pytest.raises(ValueError):
        PulseChannel(IMPORT, S0Config(imp_per_kwh=7))
