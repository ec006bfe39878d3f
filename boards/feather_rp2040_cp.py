# Adafruit Feather RP2040 (CircuitPython): countio S0 counters, busio.UART with rs485_dir.
# Its S0 pins (PWM channel B: D5 and D11 by default), watchdog limit and record capacity are
# data in shared/configboards.py; build() wires what the settings (shared.config) say.
NAME = "feather_rp2040_cp"

# `board` attribute names (docs/wiring.md).
PIN_UART_TX = "TX"  # -> transceiver DI
PIN_UART_RX = "RX"  # <- transceiver RO
PIN_RS485_DE = "D9"  # -> transceiver DE and /RE, driven by the port (rs485_dir)
FS_ROOT = "/"
# CircuitPython compiles the .py sources itself (its .mpy format differs).
MPY_ARCH = None


def build(settings):
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
    from boards.drivers.rs485 import BusioRs485
    from boards.drivers.usbcdc import data_port
    from boards.drivers.watchdog import CircuitPythonWatchdog
    from shared.port import ticks_diff, ticks_ms

    pulse_cfg = settings["pulses"]
    rs485_cfg = settings["rs485"]
    pins = pulse_cfg["pins"]
    pulses = CountioPulses(
        countio,
        digitalio,
        pulse_cfg,
        {"import": getattr(board, pins["import"]), "export": getattr(board, pins["export"])},
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
        watchdog=CircuitPythonWatchdog(microcontroller, watchdog, settings["watchdog_ms"]),
        clock=TicksClock(ticks_ms, ticks_diff, CircuitPythonRtc(rtc.RTC(), time.struct_time)),
        fs_root=FS_ROOT,
        device_id=bytes(microcontroller.cpu.uid).hex(),
        console=data_port(usb_cdc),  # None: the link stays on the console (StdioConsole)
    )
