# Raspberry Pi Pico and Pico 2 (MicroPython rp2): hard-IRQ S0 inputs, UART0 + DE, RTC, WDT.
# Its S0 pins, watchdog limit and record capacity are data in shared/configboards.py; build()
# wires what the settings (shared.config) say.
NAME = "rp2_pico"

# GPIO numbers (docs/wiring.md).
UART_ID = 0
PIN_UART_TX = 0  # physical pin 1 -> transceiver DI
PIN_UART_RX = 1  # physical pin 2 <- transceiver RO
PIN_RS485_DE = 2  # physical pin 4 -> transceiver DE and /RE
FS_ROOT = "/"
MPY_ARCH = "armv6m"  # native code for the pulse handler; also runs on RP2350 (Pico 2)


def build(settings):
    import sys

    import machine

    from boards.drivers.irqpins import machine_pulse_counter
    from boards.drivers.machine_board import machine_hardware

    pulse_cfg = settings["pulses"]
    pulses = machine_pulse_counter(machine, pulse_cfg, pulse_cfg["pins"])
    board = sys.modules[__name__]
    return machine_hardware(
        machine, board, settings, pulses, machine.Pin(PIN_UART_TX), machine.Pin(PIN_UART_RX)
    )
