# What each board can do, as data: the validator checks a config against it without importing
# boards/ (whose modules need their port's machine, board or countio). The board modules wire
# what the settings give them (pins, watchdog timeout, record capacity). Boot-only.

# name: capabilities
#   watchdog_max_ms: the longest watchdog timeout the port accepts
#   capacity: records kept by default; capacity_max: what its filesystem holds at most
#   wirings: the S0 wirings its pulse driver supports
#   pins: default S0 inputs (GPIO numbers, or `board` names on CircuitPython)
#   inputs: the pins an S0 input may use (UART, DE and on-board functions left out)
#   counting: how the inputs count: "irq" (hard IRQ, any input), "pcnt" (esp32 pulse
#   counter, any input), "pwm_b" (RP2040 countio: a PWM channel-B pin, one per slice),
#   None (the simulator drives its inputs itself)
#   i2c: how an external RTC's I2C pins are routed (shared.configrtc): "rp2040" (its
#   function table), "matrix" (any of inputs); i2c_default: the rtc section's default bus
#   and pins. Absent: no RTC option on that board.
BOARDS = {
    "rp2_pico": {
        # Pico W: 848 KB of filesystem, 90 days of 15-minute records (656 KB); a Pico 2
        # (3 MB) takes a year (capacity 35040).
        "watchdog_max_ms": 8388,
        "capacity": 8640,
        "capacity_max": 35040,
        "wirings": ("separate", "direction"),
        "pins": {"import": 14, "export": 15, "direction": 13},
        "inputs": tuple(range(3, 23)) + (26, 27, 28),
        "counting": "irq",
        "i2c": "rp2040",
        "i2c_default": {"i2c": 0, "sda": 4, "scl": 5},
    },
    "esp32_s3": {
        "watchdog_max_ms": 60000,
        "capacity": 35040,  # a year (2.7 MB) fits an 8 MB module's filesystem
        "capacity_max": 70080,
        "wirings": ("separate",),
        "pins": {"import": 4, "export": 5},
        "inputs": (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 21, 38, 39, 40, 41, 42),
        "counting": "pcnt",
        "i2c": "matrix",
        "i2c_default": {"i2c": 0, "sda": 1, "scl": 2},
    },
    "feather_rp2040_cp": {
        "watchdog_max_ms": 8388,
        "capacity": 35040,  # 8 MB of flash: a year fits
        "capacity_max": 70080,
        "wirings": ("separate",),
        "pins": {"import": "D5", "export": "D11"},
        "inputs": (
            "D4",
            "D5",
            "D6",
            "D10",
            "D11",
            "D12",
            "D13",
            "D24",
            "D25",
            "A0",
            "A1",
            "A2",
            "A3",
        ),  # fmt: skip
        "counting": "pwm_b",
    },
    "unix_sim": {
        "watchdog_max_ms": 60000,
        "capacity": 35040,
        "capacity_max": 1000000,
        "wirings": ("separate", "direction"),
        "pins": None,
        "inputs": None,
        "counting": None,
    },
}
