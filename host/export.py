"""`host export`: history rows as CSV or JSON, energies as the integers the device booked."""

import csv
import datetime
import json

from shared.record import SOURCE_POWER, SOURCE_PULSES, SOURCE_REGISTERS

SOURCE_NAMES = {SOURCE_PULSES: "pulses", SOURCE_REGISTERS: "registers", SOURCE_POWER: "power"}

FIELDS = (
    "device_id",
    "seq",
    "start_utc",
    "end_utc",
    "duration_s",
    "interval_min",
    "source",
    "source_name",
    "a_plus_mwh",
    "a_minus_mwh",
    "net_mwh",
    "q1_mvarh",
    "q2_mvarh",
    "q3_mvarh",
    "q4_mvarh",
    "pulses_import",
    "pulses_export",
    "flags",
    "flag_names",
    "link",
)


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_row(row):
    return {
        "device_id": row["device_id"],
        "seq": row["seq"],
        "start_utc": iso(row["start_utc"]),
        "end_utc": iso(row["start_utc"] + row["duration_s"]),
        "duration_s": row["duration_s"],
        "interval_min": row["interval_min"],
        "source": row["source"],
        "source_name": SOURCE_NAMES.get(row["source"], "unknown"),
        "a_plus_mwh": row["a_plus"],
        "a_minus_mwh": row["a_minus"],
        "net_mwh": row["net"],
        "q1_mvarh": row["q1"],
        "q2_mvarh": row["q2"],
        "q3_mvarh": row["q3"],
        "q4_mvarh": row["q4"],
        "pulses_import": row["pulses_import"],
        "pulses_export": row["pulses_export"],
        "flags": row["flags"],
        "flag_names": row["flag_names"],
        "link": row["link"],
    }


def export(rows, fmt, out):
    """Write rows (History.rows()) to the text stream out as csv or json; returns the count.

    CSV: one header line, flag names joined by "|". JSON: one array of objects."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            d = export_row(row)
            d["flag_names"] = "|".join(d["flag_names"])
            writer.writerow(d)
            n += 1
        return n
    out.write("[")
    for row in rows:
        out.write(",\n" if n else "\n")
        out.write(json.dumps(export_row(row)))
        n += 1
    out.write("\n]\n")
    return n
