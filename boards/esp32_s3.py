# ESP32-S3 DevKitC (MicroPython esp32): PCNT S0 counters, UART1 + DE, RTC, WDT.
NAME = "esp32_s3"

# GPIO numbers (docs/wiring.md).
PIN_S0_IMPORT = 4
PIN_S0_EXPORT = 5
PCNT_UNITS = (0, 1)
UART_ID = 1
PIN_UART_TX = 17  # -> transceiver DI
PIN_UART_RX = 18  # <- transceiver RO
PIN_RS485_DE = 8  # -> transceiver DE and /RE
WATCHDOG_MAX_MS = 60000
TIMER_ID = 0  # esp32 machine.Timer: hardware timers 0..3 (rp2 has a soft timer, -1)
FS_ROOT = "/"
# Records kept by default: a year of 15-minute records (2.7 MB) fits an 8 MB module's filesystem.
RECORD_CAPACITY = 35040
MPY_ARCH = "xtensawin"


def build(config):
    import sys

    import machine

    from boards.drivers.machine_board import machine_hardware
    from boards.drivers.pcnt import PcntPulses
    from boards.drivers.rs485 import validate_rs485_config
    from netmeter.pulses import validate_pulse_config

    pulse_cfg = validate_pulse_config(config.get("pulses"))
    rs485_cfg = validate_rs485_config(config.get("rs485"))
    pulses = PcntPulses(
        machine, pulse_cfg, {"import": PIN_S0_IMPORT, "export": PIN_S0_EXPORT}, PCNT_UNITS
    )
    board = sys.modules[__name__]
    return machine_hardware(machine, board, config, rs485_cfg, pulses, PIN_UART_TX, PIN_UART_RX)
