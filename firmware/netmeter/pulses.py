# S0 pulse constants and tick arithmetic, shared by every board's pulse driver.
#
# The hard-IRQ counter itself is in netmeter.pulse_counter (native code for rp2 and the
# simulated board); CircuitPython and esp32 count in hardware and need only this module.
from shared.s0 import (  # noqa: F401 - the words of the "pulses" settings, re-exported
    DEFAULT_DEBOUNCE_MS,
    DEFAULT_IMP_PER_KWH,
    DEFAULT_MIN_WIDTH_MS,
    EDGE_FALLING,
    EDGE_RISING,
    WIRING_DIRECTION,
    WIRING_SEPARATE,
)

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# Counters wrap below 2**30 so they stay small ints on 32-bit ports (31-bit small ints):
# the handler must never produce 2**30, not even as an intermediate value.
COUNT_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)

# Index of the shared counts.
IMPORT = const(0)
EXPORT = const(1)
REJECTED = const(2)


def ticks_diff(a, b):
    """a - b on the 2**30 tick circle, as time.ticks_diff does (for CPython and virtual time)."""
    return ((a - b + _HALF) & COUNT_MASK) - _HALF


def default_ticks():
    import time

    if hasattr(time, "ticks_ms"):
        return time.ticks_ms, time.ticks_diff

    def ticks_ms():
        return (time.monotonic_ns() // 1000000) & COUNT_MASK

    return ticks_ms, ticks_diff


def _no_irq_disable():
    return 0


def _no_irq_enable(state):
    pass


def default_irq_section():
    try:
        import machine

        return machine.disable_irq, machine.enable_irq
    except (ImportError, AttributeError):
        # The unix port and CPython have no interrupts to mask.
        return _no_irq_disable, _no_irq_enable
