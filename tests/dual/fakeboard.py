# The hardware an App needs, as plain attributes, for tests on both runtimes: no pins, no
# UART, a watchdog that is always fed and a clock that is set unless a test says otherwise.


class Fake:
    pass


def fake_hardware(root, take=lambda: (0, 0, 0), clock=None, name="fake"):
    """hw for netmeter.app.App: pulses.take() gives take()'s (import, export, rejected)."""
    hw = Fake()
    hw.pulses = Fake()
    hw.pulses.take = take
    hw.rs485 = Fake()
    hw.rs485.baud = 115200
    hw.watchdog = Fake()
    hw.watchdog.feed = lambda: None
    if clock is None:
        clock = Fake()
        clock.is_set = True
    hw.clock = clock
    hw.fs_root = root
    hw.name = name
    return hw
