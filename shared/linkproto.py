# The host link's commands, statuses and bodies: the one table both ends import.
# docs/link-protocol.md describes them; frames are shared/frame.py's.
import struct

from micropython import const

from shared import auth

# Commands (the request's code byte).
INFO = const(1)
STATUS = const(2)
PULL = const(3)
ACK = const(4)
GET_CONFIG = const(5)
PUT_CONFIG = const(6)
SET_TIME = const(7)
RESET_NET = const(8)
LOG = const(9)
TRACE = const(10)
COMMAND_NAMES = {
    INFO: "INFO",
    STATUS: "STATUS",
    PULL: "PULL",
    ACK: "ACK",
    GET_CONFIG: "GET_CONFIG",
    PUT_CONFIG: "PUT_CONFIG",
    SET_TIME: "SET_TIME",
    RESET_NET: "RESET_NET",
    LOG: "LOG",
    TRACE: "TRACE",
}
# These change state: their body is counter u32 | args | HMAC tag (shared/auth.py).
AUTHENTICATED = (ACK, PUT_CONFIG, SET_TIME, RESET_NET)

# Response statuses (a response's code is 0x80 | status); an error's body is UTF-8 text.
OK = const(0)
E_UNKNOWN_COMMAND = const(1)
E_BAD_REQUEST = const(2)
E_AUTH = const(3)
E_REPLAY = const(4)
E_INVALID = const(5)
E_FAILED = const(6)
E_PROTOCOL_VERSION = const(7)
E_NO_KEY = const(8)
# E_FAILED's text when the board's heap could not serve a request this time: a host may ask
# again (for a read; docs/link-protocol.md).
OUT_OF_MEMORY = "out of memory"
STATUS_NAMES = {
    OK: "OK",
    E_UNKNOWN_COMMAND: "unknown command",
    E_BAD_REQUEST: "bad request",
    E_AUTH: "authentication failed",
    E_REPLAY: "replayed or stale counter",
    E_INVALID: "invalid",
    E_FAILED: "failed on the device",
    E_PROTOCOL_VERSION: "protocol version not supported",
    E_NO_KEY: "no link key on the device",
}

RECORD_SIZE = const(76)
PULL_HEAD = const(9)  # first_seq u32, next_seq u32, count u8
MAX_PAGE = const(13)  # records per PULL reply: 9 + 13 * 76 = 997 bytes of body


def pull_args(from_seq, count):
    return struct.pack("<IB", from_seq, count)


def parse_pull(body):
    """(first_seq, next_seq, [raw 76-byte records]) of a PULL reply; ValueError if torn."""
    if len(body) < PULL_HEAD:
        raise ValueError("PULL reply of %d bytes is shorter than its head" % len(body))
    first, next_seq, n = struct.unpack("<IIB", body[:PULL_HEAD])
    if len(body) != PULL_HEAD + n * RECORD_SIZE:
        raise ValueError("PULL reply says %d records but holds %d bytes" % (n, len(body)))
    return first, next_seq, [body[PULL_HEAD + i * RECORD_SIZE :][:RECORD_SIZE] for i in range(n)]


def request_body(code, args=b"", key=None, rid=0, counter=0):
    """The body of a request; state-changing commands are signed with key and counter."""
    if code in AUTHENTICATED:
        return auth.signed_body(key, rid, code, counter, args)
    return args
