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
    import time

    import machine

    from boards import Hardware, unique_id
    from boards.drivers.clock import MachineRtc, TicksClock
    from boards.drivers.irqpins import machine_pulse_counter
    from boards.drivers.rs485 import DeRs485, machine_parity, validate_rs485_config
    from boards.drivers.watchdog import MachineWatchdog
    from netmeter.pulses import validate_pulse_config

    pulse_cfg = validate_pulse_config(config.get("pulses"))
    rs485_cfg = validate_rs485_config(config.get("rs485"))
    pulses = machine_pulse_counter(
        machine,
        pulse_cfg,
        {"import": PIN_S0_IMPORT, "export": PIN_S0_EXPORT, "direction": PIN_DIRECTION},
    )
    uart = machine.UART(
        UART_ID,
        baudrate=rs485_cfg["baud"],
        bits=8,
        parity=machine_parity(rs485_cfg["parity"]),
        stop=rs485_cfg["stop_bits"],
        tx=machine.Pin(PIN_UART_TX),
        rx=machine.Pin(PIN_UART_RX),
        timeout=0,
    )
    de = machine.Pin(PIN_RS485_DE, machine.Pin.OUT, value=0)
    return Hardware(
        NAME,
        pulses=pulses,
        rs485=DeRs485(uart, de, rs485_cfg["baud"]),
        watchdog=MachineWatchdog(machine, config.get("watchdog_ms", 8000), WATCHDOG_MAX_MS),
        clock=TicksClock(time.ticks_ms, time.ticks_diff, MachineRtc(machine.RTC())),
        fs_root=FS_ROOT,
        device_id=unique_id(machine),
        record_capacity=RECORD_CAPACITY,
    )
