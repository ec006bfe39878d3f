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
FS_ROOT = "/"
# Records kept by default: a year of 15-minute records (2.7 MB) fits an 8 MB module's filesystem.
RECORD_CAPACITY = 35040
MPY_ARCH = "xtensawin"


def build(config):
    import time

    import machine

    from boards import Hardware, unique_id
    from boards.drivers.clock import MachineRtc, TicksClock
    from boards.drivers.pcnt import PcntPulses
    from boards.drivers.rs485 import DeRs485, machine_parity, validate_rs485_config
    from boards.drivers.watchdog import MachineWatchdog
    from netmeter.pulses import validate_pulse_config

    pulse_cfg = validate_pulse_config(config.get("pulses"))
    rs485_cfg = validate_rs485_config(config.get("rs485"))
    pulses = PcntPulses(
        machine, pulse_cfg, {"import": PIN_S0_IMPORT, "export": PIN_S0_EXPORT}, PCNT_UNITS
    )
    uart = machine.UART(
        UART_ID,
        baudrate=rs485_cfg["baud"],
        bits=8,
        parity=machine_parity(rs485_cfg["parity"]),
        stop=rs485_cfg["stop_bits"],
        tx=PIN_UART_TX,
        rx=PIN_UART_RX,
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
