"""Our HMAC agrees with CPython's hmac module for any key and message."""

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from shared.auth import hmac_sha256


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_sha256_equals_the_standard_library(key, message):
    assert hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()
