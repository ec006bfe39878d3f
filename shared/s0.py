# S0 pulse inputs (DIN 43864 / IEC 62053-31): the words of the "pulses" settings and their
# defaults, shared by the validator (shared.config, shared.configpulses) and the counters
# (netmeter.pulses).
WIRING_SEPARATE = "separate"  # import and export on their own inputs
WIRING_DIRECTION = "direction"  # one pulse input plus a direction input
EDGE_FALLING = "falling"  # the S0 transistor pulls the pulled-up input low: pulse start
EDGE_RISING = "rising"

# Pulses last at least 30 ms, so a 20 ms window rejects bounce and glitches while a real
# pulse (>= 30 ms on, >= 30 ms off) always passes.
DEFAULT_MIN_WIDTH_MS = 30
DEFAULT_DEBOUNCE_MS = 20
DEFAULT_IMP_PER_KWH = 1000

PULSE_DEFAULTS = {
    "wiring": WIRING_SEPARATE,
    "edge": EDGE_FALLING,
    "debounce_ms": DEFAULT_DEBOUNCE_MS,
    "min_width_ms": DEFAULT_MIN_WIDTH_MS,
    "imp_per_kwh": DEFAULT_IMP_PER_KWH,
    "export_level": 1,
    "pins": None,  # the board's (shared.configboards); direction wiring: import is the pulse
}
