# What every MicroPython machine-module board has in common: UART + DE pin, RTC, WDT, chip id.
import time


def machine_hardware(machine, board, config, rs485_cfg, pulses, tx, rx):
    """The Hardware of a board module (its NAME, UART_ID, PIN_RS485_DE, WATCHDOG_MAX_MS,
    FS_ROOT, RECORD_CAPACITY, TIMER_ID: -1 for rp2's soft timer), with its pulse input
    already built; tx and rx as its machine.UART wants them (pin numbers or Pin objects)."""
    from boards import Hardware, unique_id
    from boards.drivers.clock import MachineRtc, TicksClock
    from boards.drivers.rs485 import DeRs485, machine_parity
    from boards.drivers.watchdog import MachineWatchdog

    uart = machine.UART(
        board.UART_ID,
        baudrate=rs485_cfg["baud"],
        bits=8,
        parity=machine_parity(rs485_cfg["parity"]),
        stop=rs485_cfg["stop_bits"],
        tx=tx,
        rx=rx,
        timeout=0,
    )
    de = machine.Pin(board.PIN_RS485_DE, machine.Pin.OUT, value=0)
    return Hardware(
        board.NAME,
        pulses=pulses,
        rs485=DeRs485(uart, de, rs485_cfg["baud"]),
        watchdog=MachineWatchdog(machine, config.get("watchdog_ms", 8000), board.WATCHDOG_MAX_MS),
        clock=TicksClock(time.ticks_ms, time.ticks_diff, MachineRtc(machine.RTC())),
        fs_root=board.FS_ROOT,
        device_id=unique_id(machine),
        record_capacity=board.RECORD_CAPACITY,
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
