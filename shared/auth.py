# HMAC-SHA256 (RFC 2104) over SHA-256 (shared.port), and the tags of state-changing link requests.
#
# MicroPython has no hmac module, so both runtimes use this one; RFC 4231's vectors check it.
import struct

from micropython import const

from shared.port import sha256

BLOCK = const(64)
TAG_SIZE = const(16)  # HMAC-SHA256 truncated to 128 bits (RFC 2104 section 5 allows it)
COUNTER_SIZE = const(4)
KEY_MIN = const(16)
KEY_MAX = const(64)


def hmac_sha256(key, message):
    if len(key) > BLOCK:
        key = sha256(key).digest()
    key = bytes(key) + bytes(BLOCK - len(key))
    inner = sha256(bytes([b ^ 0x36 for b in key]))
    inner.update(message)
    outer = sha256(bytes([b ^ 0x5C for b in key]))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Compare without an early exit, so timing does not tell how much of a tag was right."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def signed_body(key, rid, code, counter, args=b""):
    """The body of an authenticated request: counter u32 LE | args | tag.

    The tag covers request id, command, counter and arguments, so none can be changed."""
    head = struct.pack("<I", counter) + bytes(args)
    return head + tag(key, rid, code, head)


def tag(key, rid, code, counter_and_args):
    return hmac_sha256(key, struct.pack("<HB", rid, code) + counter_and_args)[:TAG_SIZE]


def split_signed(body):
    """(counter, args, tag) of an authenticated body, or None if it is too short."""
    if len(body) < COUNTER_SIZE + TAG_SIZE:
        return None
    (counter,) = struct.unpack("<I", body[:COUNTER_SIZE])
    return counter, body[COUNTER_SIZE:-TAG_SIZE], body[-TAG_SIZE:]


def parse_key(text):
    """A key from a key file's text: hex digits, KEY_MIN..KEY_MAX bytes. ValueError if not."""
    from binascii import unhexlify

    text = text.strip()
    try:
        key = unhexlify(text)
    except ValueError:
        raise ValueError("the key is not hex digits")
    if not KEY_MIN <= len(key) <= KEY_MAX:
        raise ValueError("the key is %d bytes; allowed %d..%d" % (len(key), KEY_MIN, KEY_MAX))
    return key
