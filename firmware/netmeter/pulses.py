# S0 pulse configuration, constants and tick arithmetic, shared by every board's pulse driver.
#
# The hard-IRQ counter itself is in netmeter.pulsecounter (native code for rp2 and the
# simulated board); CircuitPython and esp32 count in hardware and need only this module.
from micropython import const

# Counters wrap below 2**30 so they stay small ints on 32-bit ports (31-bit small ints):
# the handler must never produce 2**30, not even as an intermediate value.
COUNT_MASK = const(0x3FFFFFFF)

WIRING_SEPARATE = "separate"  # import and export on their own inputs
WIRING_DIRECTION = "direction"  # one pulse input plus a direction input
EDGE_FALLING = "falling"  # the S0 transistor pulls the pulled-up input low: pulse start
EDGE_RISING = "rising"

# Defaults (DIN 43864 / IEC 62053-31): pulses last at least 30 ms, so a 20 ms window rejects
# bounce and glitches while a real pulse (>= 30 ms on, >= 30 ms off) always passes.
DEFAULT_MIN_WIDTH_MS = const(30)
DEFAULT_DEBOUNCE_MS = const(20)
DEFAULT_IMP_PER_KWH = const(1000)

# Index of the shared counts.
IMPORT = const(0)
EXPORT = const(1)
REJECTED = const(2)


def validate_pulse_config(cfg, key="pulses"):
    """Return the pulse config with defaults filled in; raise ValueError naming key and range
    (netmeter.pulseconfig: boot-only code, which the runner drops after boot)."""
    from netmeter.pulseconfig import validate_pulse_config as validate

    return validate(cfg, key)
