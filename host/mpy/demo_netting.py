# Demo scenario run inside the MicroPython VM: a three-phase site from 06:00 to 18:00 UTC
# with PV export around midday, netted at 1-second samples into 15-minute intervals, both by
# vector and by arithmetic summation. Prints one table row per interval.
import math

from netmeter.netting import make_accumulator
from shared.record import flag_names

DAY = 1764374400000  # 2025-11-29 00:00 UTC
START = DAY + 6 * 3600000 + 7 * 60000  # starts mid-interval: the first row is PARTIAL
END = DAY + 18 * 3600000
PV_PEAK_W = 13500.0


def site(t, noise):
    """P and Q per phase in W and var at time t (ms): loads minus PV (PV on L1 and L2)."""
    hour = (t - DAY) / 3600000.0
    pv = PV_PEAK_W * max(0.0, math.sin(math.pi * (hour - 7.0) / 10.0)) ** 1.5
    loads = (1800.0, 900.0, 2600.0 if 11.0 <= hour < 13.5 else 700.0)
    phases = []
    for i in range(3):
        p = loads[i] * (1.0 + noise()) - (pv / 2.0 if i < 2 else 0.0)
        q = loads[i] * 0.3 - (250.0 if i == 1 else 0.0)  # inductive loads, a capacitive bank on L2
        phases.append((p, q))
    return phases


def noise_source(seed):
    state = [seed]

    def noise():
        state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return (state[0] % 2001 - 1000) / 20000.0  # +/- 5 %

    return noise


def main():
    config = {"interval_min": 15, "sources": ("power",), "billing": "power"}
    vector = make_accumulator(dict(config, summation="vector"))
    arithmetic = make_accumulator(dict(config, summation="arithmetic"))
    noise = noise_source(2025)
    print(
        "start UTC |    A+ Wh    A- Wh   net Wh | arith A+ arith A- "
        "|  QI  QII QIII  QIV varh | flags"
    )
    print("-" * 96)
    t = START
    totals = [0, 0, 0, 0]
    while t <= END:
        phases = site(t, noise)
        closed_v = vector.update(t, power=phases)
        closed_a = arithmetic.update(t, power=phases)
        for v, a in zip(closed_v, closed_a):
            seconds = v.start_utc % 86400
            print(
                "%02d:%02d:%02d  | %8.1f %8.1f %8.1f | %8.1f %8.1f | %4d %4d %4d %4d      | %s"
                % (
                    seconds // 3600,
                    seconds // 60 % 60,
                    seconds % 60,
                    v.a_plus / 1000,
                    v.a_minus / 1000,
                    v.net / 1000,
                    a.a_plus / 1000,
                    a.a_minus / 1000,
                    v.q1 // 1000,
                    v.q2 // 1000,
                    v.q3 // 1000,
                    v.q4 // 1000,
                    " ".join(flag_names(v.flags)) or "-",
                )
            )
            totals[0] += v.a_plus
            totals[1] += v.a_minus
            totals[2] += a.a_plus
            totals[3] += a.a_minus
        t += 1000
    print("-" * 96)
    print(
        "total     | %8.1f %8.1f %8.1f | %8.1f %8.1f | vector and arithmetic: same net"
        % (
            totals[0] / 1000,
            totals[1] / 1000,
            (totals[0] - totals[1]) / 1000,
            totals[2] / 1000,
            totals[3] / 1000,
        )
    )


main()
