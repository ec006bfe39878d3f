# What every MicroPython machine-module board has in common: UART + DE pin, RTC, WDT, chip id.
def machine_hardware(machine, board, settings, pulses, tx, rx):
    """The Hardware of a board module (its NAME, UART_ID, PIN_RS485_DE, FS_ROOT) wired as
    settings say (shared.config), with its pulse input already built; tx and rx as its
    machine.UART wants them (pin numbers or Pin objects, by port)."""
    from boards import Hardware, unique_id
    from boards.drivers.clock import MachineRtc, TicksClock
    from boards.drivers.rs485 import DeRs485, machine_parity
    from boards.drivers.watchdog import MachineWatchdog
    from shared.port import ticks_diff, ticks_ms

    line = settings["rs485"]
    uart = machine.UART(
        board.UART_ID,
        baudrate=line["baud"],
        bits=8,
        parity=machine_parity(line["parity"]),
        stop=line["stop_bits"],
        tx=tx,
        rx=rx,
        timeout=0,
    )
    de = machine.Pin(board.PIN_RS485_DE, machine.Pin.OUT, value=0)
    clock = TicksClock(ticks_ms, ticks_diff, MachineRtc(machine.RTC()))
    if settings.get("rtc") is not None:  # an external battery-backed RTC on I2C
        from boards.drivers.i2crtc import attach

        attach(machine, settings["rtc"], clock)
    return Hardware(
        board.NAME,
        pulses=pulses,
        rs485=DeRs485(uart, de, line["baud"]),
        watchdog=MachineWatchdog(machine, settings["watchdog_ms"]),
        clock=clock,
        fs_root=board.FS_ROOT,
        device_id=unique_id(machine),
        periodic=periodic_timer(machine, getattr(board, "TIMER_ID", -1)),
    )


def periodic_timer(machine, timer_id):
    """periodic(period_ms, callback) -> a running machine.Timer: the maintenance window's
    feeder (netmeter.maintenance). Its callback is a soft one, scheduled from the timer's
    interrupt and run when the VM handles pending events (also while the REPL waits)."""

    def periodic(period_ms, callback):
        return machine.Timer(timer_id, mode=machine.Timer.PERIODIC, period=period_ms,
                             callback=callback)  # fmt: skip

    return periodic
