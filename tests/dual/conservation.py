# Conservation as a property: an event stream through the netting core loses and invents
# nothing. Shared by the hypothesis test (CPython) and the seeded loop (MicroPython).
from netmeter.energy import A_MINUS, A_PLUS, HALF_MW_MS_PER_MWH
from netmeter.netting import make_accumulator
from shared.record import CLOCK_ADJUSTED

T0 = 1700000000000
SITE_LIMIT_W = 100000
WRAP = 1 << 32
SAFE_RESET = 20000000  # resets happen only far from 0 and 2**32, so none looks like a wrap

# Events: ("read", dt_ms, inc_import, inc_export, fail, pulses_import, pulses_export, p_w, q_var)
#         ("step", delta_ms)   clock set forward or back, right after a reading
#         ("reset", 0)         the meter's import register restarts at zero
#         ("netreset", 0)


def max_inc(dt_ms):
    return SITE_LIMIT_W * dt_ms // 3600000


def feed(events, start_import, interval_min, bad_power_every=0):
    """Run the events through three accumulators (billing by each source); returns a report."""
    accs = {}
    for billing in ("registers", "pulses", "power"):
        accs[billing] = make_accumulator(
            {
                "interval_min": interval_min,
                "billing": billing,
                "sources": ("registers", "pulses", "power"),
                "site_limit_w": SITE_LIMIT_W,
                "register_mwh_per_count": (1000, 1),
                "pulse_imp_per_kwh": 800,
                "max_gap_s": 30,
            }
        )
    sums = {}
    for billing in accs:
        sums[billing] = {"a_plus": 0, "a_minus": 0, "pulses_import": 0, "pulses_export": 0}
    previous = {}  # billing -> last record, for contiguity
    problems = []

    def take(billing, records):
        s = sums[billing]
        for r in records:
            for k in s:
                s[k] += getattr(r, k)
            if r.duration_s < 0:
                problems.append("negative duration at seq %d" % r.seq)
            last = previous.get(billing)
            if last is not None:
                end = last.start_utc + last.duration_s
                if r.seq != last.seq + 1:
                    problems.append("seq jumps from %d to %d" % (last.seq, r.seq))
                if r.start_utc < end:
                    problems.append("seq %d overlaps the one before" % r.seq)
                if r.start_utc > end and not (r.flags & last.flags & CLOCK_ADJUSTED):
                    problems.append("hole before seq %d without a clock step" % r.seq)
            previous[billing] = r

    device_t = T0
    meter = start_import % WRAP
    export_count = 0
    expected_import = expected_export = 0
    delivered = None  # (import, export) at the last delivered reading
    reset_since = False
    pulses = [0, 0]
    power_net_half = 0  # exact signed power integral over accepted spans, half mW.ms
    last_power = None  # (t, p_mw) of the last accepted sample
    n = 0
    for event in events:
        kind = event[0]
        if kind == "read":
            _, dt, inc_i, inc_e, fail, p_imp, p_exp, p_w, q_var = event
            device_t += dt
            meter = (meter + min(inc_i, max_inc(dt))) % WRAP
            export_count += min(inc_e, max_inc(dt))
            pulses[0] += p_imp
            pulses[1] += p_exp
            n += 1
            registers = None
            if not fail:
                registers = (meter, export_count)
                if delivered is not None:
                    # Energy across an import reset is unknown and booked as nothing.
                    if not reset_since:
                        expected_import += (meter - delivered[0]) % WRAP
                    expected_export += export_count - delivered[1]
                delivered = registers
                reset_since = False
            bad = bad_power_every and n % bad_power_every == 0
            power = [(float("nan") if bad else p_w, q_var)]
            if not bad:
                p_mw = int(round(p_w * 1000))
                if last_power is not None and 0 < device_t - last_power[0] <= 30000:
                    power_net_half += (last_power[1] + p_mw) * (device_t - last_power[0])
                last_power = (device_t, p_mw)
            for billing, acc in accs.items():
                take(billing, acc.update(device_t, power, registers, (p_imp, p_exp)))
        elif kind == "step":
            device_t += event[1]
            if last_power is not None:
                # The step moves the clock, not the meter: the next span is real elapsed time.
                last_power = (last_power[0] + event[1], last_power[1])
            for billing, acc in accs.items():
                take(billing, acc.step_clock(device_t))
        elif kind == "reset":
            if SAFE_RESET <= meter <= WRAP - SAFE_RESET:
                meter = 0
                reset_since = True
        elif kind == "netreset":
            for acc in accs.values():
                acc.reset_net()
    for billing, acc in accs.items():
        if acc.start is not None:
            # Flush: close the open interval just after the last instant it holds.
            take(billing, acc.close_now(max(acc.last_t, acc.start) + 1))
    power = accs["power"].sources["power"]
    return {
        "sums": sums,
        "problems": problems,
        "expected_import_mwh": expected_import * 1000,
        "expected_export_mwh": expected_export * 1000,
        "pulses": pulses,
        "power_plus_half": power.tallies[A_PLUS].total,
        "power_minus_half": power.tallies[A_MINUS].total,
        "power_net_half": power_net_half,
        "net_totals": [acc.net_total for acc in accs.values()],
    }


def check(events, start_import=0, interval_min=5, bad_power_every=0):
    """Assert conservation for one event stream."""
    report = feed(events, start_import, interval_min, bad_power_every)
    sums = report["sums"]
    assert report["problems"] == [], report["problems"]
    assert sums["registers"]["a_plus"] == report["expected_import_mwh"], report
    assert sums["registers"]["a_minus"] == report["expected_export_mwh"], report
    p_imp, p_exp = report["pulses"]
    for s in sums.values():
        assert (s["pulses_import"], s["pulses_export"]) == (p_imp, p_exp), report
    assert sums["pulses"]["a_plus"] == p_imp * 1000000 // 800, report
    assert sums["pulses"]["a_minus"] == p_exp * 1000000 // 800, report
    plus, minus = report["power_plus_half"], report["power_minus_half"]
    assert sums["power"]["a_plus"] == plus // HALF_MW_MS_PER_MWH, report
    assert sums["power"]["a_minus"] == minus // HALF_MW_MS_PER_MWH, report
    assert plus - minus == report["power_net_half"], report
    return report


def random_events(rng, count):
    events = []
    for _ in range(count):
        roll = rng.below(100)
        if roll < 2:
            events.append(("step", rng.between(-1800000, 7200000)))
        elif roll < 4:
            events.append(("reset", 0))
        elif roll < 5:
            events.append(("netreset", 0))
        else:
            dt = rng.between(0, 4000) if rng.below(40) else rng.between(0, 3 * 3600000)
            events.append(
                (
                    "read",
                    dt,
                    rng.below(60),
                    rng.below(60),
                    rng.chance(10),
                    rng.below(3),
                    rng.below(2),
                    float(rng.between(-20000, 20000)) / 4,
                    float(rng.between(-5000, 5000)),
                )
            )
    return events
