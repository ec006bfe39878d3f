# HMAC-SHA256 against RFC 4231's test vectors, on both runtimes; request tags and keys.
from binascii import hexlify, unhexlify

from dualtest import raises
from shared.auth import TAG_SIZE, equal, hmac_sha256, parse_key, signed_body, split_signed, tag

LONG_KEY = b"\xaa" * 131
RFC4231 = [
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        bytes(range(1, 26)),
        b"\xcd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        LONG_KEY,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        LONG_KEY,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


def test_hmac_sha256_matches_rfc4231_vectors():
    for key, data, expected in RFC4231:
        assert hexlify(hmac_sha256(key, data)).decode() == expected, key[:4]


def test_rfc4231_truncated_case_5():
    mac = hmac_sha256(b"\x0c" * 20, b"Test With Truncation")
    assert hexlify(mac[:16]).decode() == "a3b6167473100ee06e0c796c2955552b"


def test_signed_body_round_trips_and_tag_covers_every_field():
    key = bytes(range(32))
    body = signed_body(key, 7, 4, 99, b"\x01\x02")
    counter, args, mac = split_signed(body)
    assert (counter, args, len(mac)) == (99, b"\x01\x02", TAG_SIZE)
    assert equal(mac, tag(key, 7, 4, body[:-TAG_SIZE]))
    assert not equal(mac, tag(key, 8, 4, body[:-TAG_SIZE]))  # another request id
    assert not equal(mac, tag(key, 7, 6, body[:-TAG_SIZE]))  # another command
    assert not equal(mac, tag(bytes(32), 7, 4, body[:-TAG_SIZE]))  # another key
    assert split_signed(b"short") is None


def test_key_files_hold_hex_of_a_sane_length():
    assert parse_key(" " + "ab" * 32 + "\n") == unhexlify("ab" * 32)
    assert "hex" in str(raises(ValueError, parse_key, "zz" * 32))
    assert "16..64" in str(raises(ValueError, parse_key, "ab" * 4))
