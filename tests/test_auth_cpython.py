"""Our HMAC agrees with CPython's hmac module for any key and message."""

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from shared.auth import hmac_sha256


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_sha256_equals_the_standard_library(key, message):
    assert hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=1016))
def test_no_frame_ever_holds_ctrl_c(rid, code, body):
    from shared.frame import Decoder, encode

    line = encode(rid, code, body)
    assert b"\x03" not in line and all(0x20 < b < 0x7F for b in line[:-1])
    (frame,) = Decoder().feed(line)
    assert (frame.rid, frame.code, frame.body) == (rid, code, body)
