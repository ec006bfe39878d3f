"""`host plot`: import, export and net energy as a PNG (matplotlib, Agg).

A bar per interval is readable for a few days only: over more than PER_INTERVAL_MAX_S the
intervals are summed per hour, over more than PER_HOUR_MAX_S per day (a year of 15-minute
intervals is 35,000 bars, a black band; it is 365 day bars). Energies are drawn in Wh, or
in kWh when the largest bar reaches 10 kWh; times are UTC."""

import datetime
from dataclasses import dataclass

PER_INTERVAL_MAX_S = 2 * 86400
PER_HOUR_MAX_S = 31 * 86400


@dataclass
class Drawn:
    rows: int  # intervals read
    bins: int  # bars drawn
    per: str  # "interval", "hour" or "day"
    unit: str  # "Wh" or "kWh"


def bin_seconds(span_s):
    """(seconds per bar, name) for a plot spanning span_s; 0: one bar per interval."""
    if span_s <= PER_INTERVAL_MAX_S:
        return 0, "interval"
    if span_s <= PER_HOUR_MAX_S:
        return 3600, "hour"
    return 86400, "day"


def bins(rows):
    """([(start_s, width_s, a_plus, a_minus, net)] in mWh, per name, devices, row count)."""
    items = []
    devices = set()
    for r in rows:
        items.append((r["start_utc"], r["duration_s"], r["a_plus"], r["a_minus"], r["net"]))
        devices.add(r["device_id"])
    if not items:
        return [], "interval", devices, 0
    span = max(i[0] + i[1] for i in items) - min(i[0] for i in items)
    size, per = bin_seconds(span)
    if not size:
        return items, per, devices, len(items)
    summed = {}
    for start, _dur, ap, am, net in items:
        key = start - start % size
        s = summed.setdefault(key, [0, 0, 0])
        s[0] += ap
        s[1] += am
        s[2] += net
    out = [(k, size, *summed[k]) for k in sorted(summed)]
    return out, per, devices, len(items)


def plot(rows, out, say=None):
    """Draw rows (History.rows()) into the PNG file out; returns a Drawn. Nothing is written
    when there are no rows. say(text): progress for a person."""
    say = say or (lambda text: None)
    data, per, devices, n = bins(rows)
    if not data:
        return Drawn(0, 0, per, "Wh")
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    biggest = max(max(abs(b[2]), abs(b[3]), abs(b[4])) for b in data)
    unit, scale = ("kWh", 1_000_000) if biggest >= 10_000_000 else ("Wh", 1000)
    if per != "interval":
        say("summed %d intervals into %d %s bars" % (n, len(data), per))
    say("drawing %d bars into %s ..." % (len(data), out))
    utc = datetime.UTC
    times = [datetime.datetime.fromtimestamp(b[0], utc) for b in data]
    widths = [b[1] / 86400 for b in data]  # matplotlib dates are in days
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=100)
    try:
        ax.bar(times, [b[2] / scale for b in data], width=widths, align="edge",
               color="#d62728", label="import A+")  # fmt: skip
        ax.bar(times, [-b[3] / scale for b in data], width=widths, align="edge",
               color="#2ca02c", label="export A-")  # fmt: skip
        mids = [t + datetime.timedelta(seconds=b[1] / 2) for t, b in zip(times, data)]
        ax.plot(mids, [b[4] / scale for b in data], color="black", linewidth=1.2, label="net")
        ax.legend(loc="upper right")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_title("netmeter %s: energy per %s" % (", ".join(sorted(devices)), per))
        ax.set_ylabel("%s per %s (export below zero)" % (unit, per))
        ax.set_xlabel("time (UTC)")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return Drawn(n, len(data), per, unit)
