"""`host plot`: import, export and net energy per interval as a PNG (matplotlib, Agg)."""

import datetime


def plot(rows, out):
    """Draw rows (History.rows()) into the PNG file out; returns the number of intervals."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    times = [datetime.datetime.fromtimestamp(r["start_utc"], datetime.UTC) for r in rows]
    wh = [(r["a_plus"] / 1000, -r["a_minus"] / 1000, r["net"] / 1000) for r in rows]
    widths = [r["duration_s"] / 86400 for r in rows]  # matplotlib dates are in days
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=100)
    try:
        if rows:
            ax.bar(times, [w[0] for w in wh], width=widths, align="edge", color="#d62728",
                   label="import A+")  # fmt: skip
            ax.bar(times, [w[1] for w in wh], width=widths, align="edge", color="#2ca02c",
                   label="export A-")  # fmt: skip
            mids = [
                t + datetime.timedelta(seconds=r["duration_s"] / 2) for t, r in zip(times, rows)
            ]
            ax.plot(mids, [w[2] for w in wh], color="black", linewidth=1.2, label="net")
            ax.legend(loc="upper right")
        ax.axhline(0, color="grey", linewidth=0.5)
        devices = sorted({r["device_id"] for r in rows})
        ax.set_title("netmeter %s: energy per interval" % (", ".join(devices) or "(no records)"))
        ax.set_ylabel("Wh per interval (export below zero)")
        ax.set_xlabel("UTC")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return len(rows)
