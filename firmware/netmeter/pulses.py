# S0 pulse constants, shared by every board's pulse driver.
#
# The hard-IRQ counter itself is in netmeter.pulsecounter (native code for rp2 and the
# simulated board); CircuitPython and esp32 count in hardware and need only this module.
from micropython import const

from shared.s0 import (  # noqa: F401 - the words of the "pulses" settings, re-exported
    DEFAULT_DEBOUNCE_MS,
    DEFAULT_IMP_PER_KWH,
    DEFAULT_MIN_WIDTH_MS,
    EDGE_FALLING,
    EDGE_RISING,
    WIRING_DIRECTION,
    WIRING_SEPARATE,
)

# Counters wrap below 2**30 so they stay small ints on 32-bit ports (31-bit small ints):
# the handler must never produce 2**30, not even as an intermediate value.
COUNT_MASK = const(0x3FFFFFFF)

# Index of the shared counts.
IMPORT = const(0)
EXPORT = const(1)
REJECTED = const(2)
