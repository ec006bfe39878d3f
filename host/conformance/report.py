"""The conformance report: a terminal table, a JSON result file, a PNG per scenario."""

import json
from pathlib import Path


def table(results):
    lines = [
        "%-18s %-5s %9s  %-40s %s" % ("scenario", "ok", "worst %", "flags seen", "expected"),
        "-" * 100,
    ]
    for r in results:
        seen = ",".join(sorted(r.flags_seen)) or "-"
        lines.append(
            "%-18s %-5s %9.4f  %-40s %s"
            % (r.name, "PASS" if r.passed else "FAIL", r.worst_error_pct, seen,
               ",".join(r.flags_expected) or "-")
        )  # fmt: skip
        if r.clock_offset:
            lines.append("    board clock %s" % describe_offset(r.clock_offset))
        for problem in r.problems[:5]:
            lines.append("    ! " + problem)
    passed = sum(1 for r in results if r.passed)
    lines.append("%d of %d scenarios passed" % (passed, len(results)))
    return "\n".join(lines)


def describe_offset(offset):
    """The board's clock against the host's, as measured (clock.ClockOffset.as_dict())."""
    return "%+.1f ms from the host's, +- %.1f ms (best round trip %d ms of %d)%s" % (
        offset["offset_ms"],
        offset["uncertainty_ms"],
        offset["rtt_ms"],
        offset["samples"],
        "; meter read %d ms after a boundary at most" % offset["read_lag_ms"]
        if "read_lag_ms" in offset
        else "",
    )


def write(results, directory):
    """results.json and one PNG per scenario (device against truth per interval)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "passed": all(r.passed for r in results),
        "scenarios": [r.as_dict() for r in results],
    }
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for r in results:
        rows = r.intervals
        x = [(row["t0_ms"] / 3_600_000) for row in rows]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        width = (rows[0]["t1_ms"] - rows[0]["t0_ms"]) / 3_600_000 * 0.4 if rows else 0.1
        ax.bar([v - width / 2 for v in x], [row["a_plus"] / 1000 for row in rows], width,
               label="device A+", color="tab:red", align="edge")  # fmt: skip
        ax.bar([v - width / 2 for v in x], [-row["a_minus"] / 1000 for row in rows], width,
               label="device A-", color="tab:green", align="edge")  # fmt: skip
        ax.step(x, [row["true_a_plus"] / 1000 for row in rows], where="post", color="k",
                label="truth A+ / A-")  # fmt: skip
        ax.step(x, [-row["true_a_minus"] / 1000 for row in rows], where="post", color="k")
        for row in rows:
            if row["flags"]:
                ax.annotate(",".join(row["flags"]), (row["t0_ms"] / 3_600_000, 0), fontsize=6,
                            rotation=90, va="bottom")  # fmt: skip
        ax.set_xlabel("hour of the simulated day")
        ax.set_ylabel("Wh per interval")
        ax.set_title("%s: %s" % (r.name, "PASS" if r.passed else "FAIL"))
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / ("%s.png" % r.name), dpi=80)
        plt.close(fig)
    return out
