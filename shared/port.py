# The port differences, in one place: hashing, sleeping and ticks, the filesystem's writability.
#
# MicroPython (rp2, esp32, unix) has time.sleep_ms/ticks_ms/ticks_us/ticks_diff and
# hashlib.sha256. CircuitPython's time has only sleep/monotonic/monotonic_ns/time/localtime
# (no sleep_ms, no ticks_*) and its hashlib only new(name, data); CPython runs the same code in
# the tests. Everything else in firmware/, boards/ and shared/ calls these names and never asks
# which port it is on. The port's own functions are looked up with getattr: this module is the
# one place that may name an API one port lacks (the stub check of `make test` holds every other
# module to its port's real API).
#
# Native code (the micropython.viper and native decorators) is not here: CircuitPython
# refuses it at compile time (SyntaxError), so it lives only in netmeter.pulsecounter, which
# no CircuitPython board imports.
import hashlib
import time

from micropython import const

# Ticks without time.ticks_*: milliseconds or microseconds modulo 2**30, MicroPython's period
# on 32-bit ports, so they stay small ints; the simulator's virtual ticks wrap the same way.
TICKS_MASK = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)


def circle_diff(a, b):
    """a - b for ticks on the 2**30 circle (virtual ticks, and ports without time.ticks_diff):
    exact while the two are less than 2**29 apart."""
    return ((a - b + _TICKS_HALF) & TICKS_MASK) - _TICKS_HALF


ticks_ms = getattr(time, "ticks_ms", None)
ticks_us = getattr(time, "ticks_us", None)
ticks_diff = getattr(time, "ticks_diff", None)
sleep_ms = getattr(time, "sleep_ms", None)
sleep_us = getattr(time, "sleep_us", None)

if ticks_ms is None:  # CircuitPython, CPython: monotonic_ns is exact (an int, not a float)
    # MicroPython's stubs rightly say it has no monotonic_ns: hence the ignore comments.
    def ticks_ms():
        return (time.monotonic_ns() // 1000000) & TICKS_MASK  # type: ignore[attr-defined]

    def ticks_us():
        return (time.monotonic_ns() // 1000) & TICKS_MASK  # type: ignore[attr-defined]

    ticks_diff = circle_diff

    def sleep_ms(ms):
        time.sleep(ms / 1000)

    def sleep_us(us):
        time.sleep(us / 1000000)


sha256 = getattr(hashlib, "sha256", None)
if sha256 is None:  # CircuitPython: hashlib.new(name, data) only

    def sha256(data=b""):
        return hashlib.new("sha256", data)  # type: ignore[attr-defined]  # CircuitPython's


def fs_writable(root="/"):
    """True when the firmware may write under root. On CircuitPython the drive is writable by
    the firmware only after boot.py's storage.remount("/", readonly=False), and then not by the
    computer (docs/wiring.md, maintenance mode); MicroPython's and the simulator's are."""
    try:
        import storage  # type: ignore[import-not-found]  # CircuitPython's
    except ImportError:
        return True
    return not storage.getmount(root).readonly
