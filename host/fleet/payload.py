"""The MQTT message that carries a page of one device's records (sans-IO, one definition).

Topic `netmeter/<device_id>/records`, QoS 1, a JSON object:

    {"v": 1, "device_id": "site-7", "anchor": null,
     "records": [{"seq": 96, "start": "2025-11-29T00:00:00Z", "end": "2025-11-29T00:15:00Z",
                  "a_plus_mwh": 1234, "a_minus_mwh": 0, "net_mwh": 1234,
                  "q1_mvarh": 5, "q2_mvarh": 0, "q3_mvarh": 0, "q4_mvarh": 0,
                  "pulses_import": 1, "pulses_export": 0, "interval_min": 15,
                  "source": "registers", "flags": ["POWER_DOWN"],
                  "raw": "<the 76-byte record, base64>"}, ...]}

The readable fields are for any subscriber; `raw` is what the far end verifies (CRC, the hash
chain through its link) and stores. decode_page() refuses a page whose readable fields do not
say what its raw records say, so the two can never disagree downstream. `anchor` is set when
the page's first record starts the sender's chain on trust (docs/host.md, "Sync"): {"seq": n,
"reason": "..."}.
"""

import base64
import binascii
import json
import struct
import time

from shared.record import (
    BODY_FORMAT,
    FIELDS,
    SIZE,
    SOURCE_POWER,
    SOURCE_PULSES,
    SOURCE_REGISTERS,
    RecordError,
    decode,
    flag_names,
)

VERSION = 1
TOPIC_ROOT = "netmeter"
SOURCE_NAMES = {SOURCE_PULSES: "pulses", SOURCE_REGISTERS: "registers", SOURCE_POWER: "power"}
_BODY = struct.Struct(BODY_FORMAT)
_INDEX = {name: i for i, name in enumerate(FIELDS)}


class PayloadError(ValueError):
    """A message that is not a valid page of records; str() says what is wrong."""


def records_topic(device_id):
    return "%s/%s/records" % (TOPIC_ROOT, device_id)


def status_topic(device_id):
    """Retained `online`/`offline` of the gateway publishing device_id (its last will)."""
    return "%s/%s/status" % (TOPIC_ROOT, device_id)


def state_topic(device_id):
    """Retained totals of the stored records (Home Assistant's sensors read it)."""
    return "%s/%s/state" % (TOPIC_ROOT, device_id)


def shared_subscription(group):
    return "$share/%s/%s/+/records" % (group, TOPIC_ROOT)


def device_from_topic(topic):
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or parts[2] != "records" or not parts[1]:
        raise PayloadError("topic %r is not %s/<device_id>/records" % (topic, TOPIC_ROOT))
    return parts[1]


def iso(seconds):
    """UTC ISO 8601 of Unix seconds (gmtime: a fifth of datetime's cost, twice per record)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def record_entry(raw):
    """The JSON object of one raw record (raises RecordError if raw is not a valid record)."""
    rec = decode(raw)
    return {
        "seq": rec.seq,
        "start": iso(rec.start_utc),
        "end": iso(rec.start_utc + rec.duration_s),
        "a_plus_mwh": rec.a_plus,
        "a_minus_mwh": rec.a_minus,
        "net_mwh": rec.net,
        "q1_mvarh": rec.q1,
        "q2_mvarh": rec.q2,
        "q3_mvarh": rec.q3,
        "q4_mvarh": rec.q4,
        "pulses_import": rec.pulses_import,
        "pulses_export": rec.pulses_export,
        "interval_min": rec.interval_min,
        "source": SOURCE_NAMES.get(rec.source, str(rec.source)),
        "flags": flag_names(rec.flags),
        "raw": base64.b64encode(raw).decode(),
    }


def encode_page(device_id, raws, anchor=None):
    """The message (bytes) of consecutive raw records of device_id; anchor: (seq, reason)."""
    doc = {
        "v": VERSION,
        "device_id": device_id,
        "anchor": None if anchor is None else {"seq": anchor[0], "reason": anchor[1]},
        "records": [record_entry(bytes(raw)) for raw in raws],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


class Page:
    """A decoded message: device_id, raws (bytes, in the order sent), anchor or None."""

    __slots__ = ("device_id", "raws", "anchor")

    def __init__(self, device_id, raws, anchor=None):
        self.device_id = device_id
        self.raws = raws
        self.anchor = anchor

    def seqs(self):
        return [_BODY.unpack_from(raw)[_INDEX["seq"]] for raw in self.raws]


def decode_page(topic, payload):
    """The Page of a message, or PayloadError naming what is wrong (JSON, version, a record's
    size or CRC, a readable field that differs from its raw record, a topic for another
    device)."""
    device_id = device_from_topic(topic)
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("%s: not JSON: %s" % (topic, exc)) from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise PayloadError("%s: not a version %d page of records" % (topic, VERSION))
    if doc.get("device_id") != device_id:
        raise PayloadError(
            "%s: the page says device_id %r, the topic %r"
            % (topic, doc.get("device_id"), device_id)
        )
    entries = doc.get("records")
    if not isinstance(entries, list):
        raise PayloadError("%s: no records list" % topic)
    raws = []
    for i, entry in enumerate(entries):
        try:
            raw = base64.b64decode(entry["raw"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise PayloadError("%s: record %d has no base64 raw field" % (topic, i)) from None
        if len(raw) != SIZE:
            raise PayloadError("%s: record %d is %d bytes, not %d" % (topic, i, len(raw), SIZE))
        try:
            expected = record_entry(raw)
        except RecordError as exc:
            raise PayloadError("%s: record %d: %s" % (topic, i, exc)) from None
        if entry != expected:
            wrong = sorted(
                k for k in set(entry) | set(expected) if entry.get(k) != expected.get(k)
            )
            raise PayloadError(
                "%s: seq %d: field %s differs from its raw record"
                % (topic, expected["seq"], wrong[0])
            )
        raws.append(raw)
    anchor = doc.get("anchor")
    if anchor is not None:
        try:
            anchor = (int(anchor["seq"]), str(anchor["reason"]))
        except (KeyError, TypeError, ValueError):
            raise PayloadError("%s: anchor is not {seq, reason}" % topic) from None
    return Page(device_id, raws, anchor)
