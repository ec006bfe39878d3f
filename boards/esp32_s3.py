# ESP32-S3 DevKitC (MicroPython esp32): PCNT S0 counters, UART1 + DE, RTC, WDT.
# Its S0 pins, watchdog limit and record capacity are data in shared/configboards.py; build()
# wires what the settings (shared.config) say.
NAME = "esp32_s3"

# GPIO numbers (docs/wiring.md).
PCNT_UNITS = (0, 1)
UART_ID = 1
PIN_UART_TX = 17  # -> transceiver DI
PIN_UART_RX = 18  # <- transceiver RO
PIN_RS485_DE = 8  # -> transceiver DE and /RE
TIMER_ID = 0  # esp32 machine.Timer: hardware timers 0..3 (rp2 has a soft timer, -1)
FS_ROOT = "/"
MPY_ARCH = "xtensawin"


def build(settings):
    import sys

    import machine

    from boards.drivers.machine_board import machine_hardware
    from boards.drivers.pcnt import PcntPulses

    pulse_cfg = settings["pulses"]
    pulses = PcntPulses(machine, pulse_cfg, pulse_cfg["pins"], PCNT_UNITS)
    board = sys.modules[__name__]
    return machine_hardware(machine, board, settings, pulses, PIN_UART_TX, PIN_UART_RX)
