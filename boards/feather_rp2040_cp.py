# Adafruit Feather RP2040 (CircuitPython): countio S0 counters, busio.UART with rs485_dir.
NAME = "feather_rp2040_cp"

# `board` attribute names (docs/wiring.md).
PIN_S0_IMPORT = "D5"
PIN_S0_EXPORT = "D6"
PIN_UART_TX = "TX"  # -> transceiver DI
PIN_UART_RX = "RX"  # <- transceiver RO
PIN_RS485_DE = "D9"  # -> transceiver DE and /RE, driven by the port (rs485_dir)
WATCHDOG_MAX_MS = 8388
FS_ROOT = "/"
# CircuitPython compiles the .py sources itself (its .mpy format differs).
# Records kept by default: the Feather RP2040 has 8 MB of flash, a year fits.
RECORD_CAPACITY = 35040
MPY_ARCH = None


def build(config):
    import time

    import board
    import busio
    import countio
    import digitalio
    import microcontroller
    import rtc
    import usb_cdc
    import watchdog

    from boards import Hardware
    from boards.drivers.clock import CircuitPythonRtc, TicksClock
    from boards.drivers.countio_pulses import CountioPulses
    from boards.drivers.rs485 import BusioRs485, validate_rs485_config
    from boards.drivers.usbcdc import data_port
    from boards.drivers.watchdog import CircuitPythonWatchdog
    from netmeter.pulses import validate_pulse_config
    from shared.port import ticks_diff, ticks_ms

    pulse_cfg = validate_pulse_config(config.get("pulses"))
    rs485_cfg = validate_rs485_config(config.get("rs485"))
    pulses = CountioPulses(
        countio,
        digitalio,
        pulse_cfg,
        {"import": getattr(board, PIN_S0_IMPORT), "export": getattr(board, PIN_S0_EXPORT)},
    )
    parity = {"none": None, "even": busio.UART.Parity.EVEN, "odd": busio.UART.Parity.ODD}
    uart = busio.UART(
        getattr(board, PIN_UART_TX),
        getattr(board, PIN_UART_RX),
        baudrate=rs485_cfg["baud"],
        bits=8,
        parity=parity[rs485_cfg["parity"]],
        stop=rs485_cfg["stop_bits"],
        timeout=0,
        rs485_dir=getattr(board, PIN_RS485_DE),
    )

    return Hardware(
        NAME,
        pulses=pulses,
        rs485=BusioRs485(uart, rs485_cfg["baud"]),
        watchdog=CircuitPythonWatchdog(
            microcontroller, watchdog, config.get("watchdog_ms", 8000), WATCHDOG_MAX_MS
        ),
        clock=TicksClock(ticks_ms, ticks_diff, CircuitPythonRtc(rtc.RTC(), time.struct_time)),
        fs_root=FS_ROOT,
        device_id=bytes(microcontroller.cpu.uid).hex(),
        record_capacity=RECORD_CAPACITY,
        console=data_port(usb_cdc),  # None: the link stays on the console (StdioConsole)
    )
