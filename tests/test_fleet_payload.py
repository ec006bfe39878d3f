"""The MQTT page of records (host/fleet/payload.py): what it says, and every way it refuses a
page whose readable fields or raw records were altered."""

import base64
import json

import pytest
from fleet_services import chained_raws

from host.fleet.payload import (
    PayloadError,
    decode_page,
    encode_page,
    records_topic,
    shared_subscription,
)
from shared.record import decode

TOPIC = records_topic("dev-1")


def test_a_page_round_trips_with_readable_fields_that_match_the_records():
    raws = chained_raws("dev-1", 100)
    doc = json.loads(encode_page("dev-1", raws[3:8], anchor=(3, "taken on trust")))
    first = doc["records"][0]
    rec = decode(raws[3])
    assert first["seq"] == 3 and first["a_plus_mwh"] == rec.a_plus
    assert first["start"] == "2025-11-29T00:45:00Z" and first["end"] == "2025-11-29T01:00:00Z"
    assert first["source"] == "registers" and first["net_mwh"] == rec.a_plus - rec.a_minus
    flagged = json.loads(encode_page("dev-1", [raws[13]]))["records"][0]
    assert flagged["flags"] == ["POWER_DOWN"]
    page = decode_page(TOPIC, encode_page("dev-1", raws[3:8], anchor=(3, "taken on trust")))
    assert page.raws == raws[3:8] and page.seqs() == [3, 4, 5, 6, 7]
    assert page.anchor == (3, "taken on trust") and page.device_id == "dev-1"
    assert shared_subscription("g") == "$share/g/netmeter/+/records"


def altered(change):
    doc = json.loads(encode_page("dev-1", chained_raws("dev-1", 3)))
    change(doc)
    return json.dumps(doc).encode()


def flip_raw(doc):
    raw = bytearray(base64.b64decode(doc["records"][1]["raw"]))
    raw[30] ^= 1
    doc["records"][1]["raw"] = base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{not json", "not JSON"),
        (altered(lambda d: d.update(v=2)), "not a version 1 page"),
        (altered(lambda d: d.update(device_id="dev-2")), "says device_id 'dev-2'"),
        (altered(lambda d: d["records"][2].update(a_plus_mwh=1)), "field a_plus_mwh differs"),
        (altered(lambda d: d["records"][0].update(flags=["POWER_DOWN"])), "seq 0: field flags"),
        (altered(flip_raw), "record CRC mismatch"),
        (altered(lambda d: d["records"][0].update(raw="AAAA")), "is 3 bytes, not 76"),
        (altered(lambda d: d["records"][0].pop("raw")), "no base64 raw field"),
    ],
)
def test_a_page_that_was_altered_is_refused_naming_the_problem(payload, message):
    with pytest.raises(PayloadError, match=message):
        decode_page(TOPIC, payload)


def test_a_topic_that_is_not_a_records_topic_is_refused():
    with pytest.raises(PayloadError, match="is not netmeter/<device_id>/records"):
        decode_page("netmeter/dev-1/state", encode_page("dev-1", chained_raws("dev-1", 1)))
