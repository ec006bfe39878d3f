# shared.port, the one place that knows the port: the same answers on both runtimes.
from binascii import hexlify

from shared.port import (
    TICKS_MASK,
    circle_diff,
    fs_writable,
    sha256,
    sleep_ms,
    ticks_diff,
    ticks_ms,
    ticks_us,
)


def test_sha256_matches_the_fips_180_vector_in_one_call_and_in_parts():
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hexlify(sha256(b"abc").digest()).decode() == abc
    h = sha256(b"a")
    h.update(b"bc")
    assert hexlify(h.digest()).decode() == abc
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert hexlify(sha256().digest()).decode() == empty


def test_circle_diff_is_exact_across_the_2_30_wrap():
    assert circle_diff(5, TICKS_MASK - 4) == 10
    assert circle_diff(TICKS_MASK - 4, 5) == -10
    assert circle_diff(1000, 400) == 600
    assert circle_diff(0, 0) == 0


def test_the_ports_ticks_move_forward_with_sleep():
    t0, u0 = ticks_ms(), ticks_us()
    sleep_ms(3)
    assert ticks_diff(ticks_ms(), t0) >= 2
    assert ticks_diff(ticks_us(), u0) >= 2000


def test_the_unix_port_and_cpython_write_their_filesystem():
    assert fs_writable("/") is True
