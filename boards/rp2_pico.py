# Raspberry Pi Pico and Pico 2 (MicroPython rp2): hard-IRQ S0 inputs, UART0 + DE, RTC, WDT.
NAME = "rp2_pico"

# GPIO numbers (docs/wiring.md).
PIN_S0_IMPORT = 14  # physical pin 19; also the single pulse input of direction wiring
PIN_S0_EXPORT = 15  # physical pin 20
PIN_DIRECTION = 13  # physical pin 17, direction wiring only
UART_ID = 0
PIN_UART_TX = 0  # physical pin 1 -> transceiver DI
PIN_UART_RX = 1  # physical pin 2 <- transceiver RO
PIN_RS485_DE = 2  # physical pin 4 -> transceiver DE and /RE
WATCHDOG_MAX_MS = 8388  # the rp2 watchdog's longest timeout
FS_ROOT = "/"
# Records kept by default: a Pico W has 848 KB of filesystem, so 90 days of 15-minute
# records (656 KB) fit with room to spare; a Pico 2 (3 MB) takes a year: set "capacity".
RECORD_CAPACITY = 8640
MPY_ARCH = "armv6m"  # native code for the pulse handler; also runs on RP2350 (Pico 2)


def build(config):
    import sys

    import machine

    from boards.drivers.irqpins import machine_pulse_counter
    from boards.drivers.machine_board import machine_hardware
    from boards.drivers.rs485 import validate_rs485_config
    from netmeter.pulses import validate_pulse_config

    pulse_cfg = validate_pulse_config(config.get("pulses"))
    rs485_cfg = validate_rs485_config(config.get("rs485"))
    pulses = machine_pulse_counter(
        machine,
        pulse_cfg,
        {"import": PIN_S0_IMPORT, "export": PIN_S0_EXPORT, "direction": PIN_DIRECTION},
    )
    board = sys.modules[__name__]
    return machine_hardware(
        machine,
        board,
        config,
        rs485_cfg,
        pulses,
        machine.Pin(PIN_UART_TX),
        machine.Pin(PIN_UART_RX),
    )
