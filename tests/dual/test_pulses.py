# PulseCounter on both runtimes: debounce, bounce, direction wiring, wrap-around, and the
# handler allocating nothing under micropython.heap_lock() in the real VM.
import sys
from array import array

from dualtest import RUNTIME, raises
from netmeter.pulsecounter import PulseCounter
from netmeter.pulses import (
    COUNT_MASK,
    EXPORT,
    IMPORT,
    REJECTED,
)

TICKS_WRAP = COUNT_MASK + 1


class VirtualClock:
    """Milliseconds on the 2**30 tick circle; read by the handler through a bound method."""

    def __init__(self, start=0):
        self.t = array("i", [start])
        self.ticks = self._ticks

    def _ticks(self):
        return self.t[0]

    def set(self, ms):
        self.t[0] = ms & COUNT_MASK


class FakePin:
    """Just what a handler reads: value()."""

    def __init__(self, level=1):
        self.level = level

    def value(self):
        return self.level


class Line:
    """An S0 input with a pull-up (idle high, pulse low), firing on both edges like Pin.irq."""

    def __init__(self, clock, handler, idle=1):
        self.clock = clock
        self.handler = handler
        self.pin = FakePin(idle)
        self.idle = idle

    def drive(self, t, level):
        self.clock.set(t)
        if level != self.pin.level:
            self.pin.level = level
            self.handler(self.pin)

    def pulse(self, t, width=30, bounce_pairs=0, spacing=1):
        active = 1 - self.idle
        self._transition(t, active, bounce_pairs, spacing)
        self._transition(t + width, self.idle, bounce_pairs, spacing)

    def _transition(self, t, level, pairs, spacing):
        # Same model as host/sim/pulses.py: (opposite, back) pairs spacing ms apart.
        self.drive(t, level)
        for k in range(pairs):
            at = t + (2 * k + 1) * spacing
            self.drive(at, 1 - level)
            self.drive(at + spacing, level)


def make(**kwargs):
    clock = VirtualClock(kwargs.pop("start", 0))
    counter = PulseCounter(ticks_ms=clock.ticks, **kwargs)
    return clock, counter


def test_legitimate_30ms_pulses_at_16_7_hz_are_all_counted():
    clock, counter = make(debounce_ms=20)
    line = Line(clock, counter.on_import_edge)
    for i in range(1000):
        line.pulse(1000 + i * 60, width=30)  # 30 ms on, 30 ms off: the S0 maximum rate
    assert counter.take() == (1000, 0, 0)
    assert counter.take() == (0, 0, 0)


def test_bounce_bursts_at_both_transitions_are_rejected_and_counted():
    clock, counter = make(debounce_ms=20)
    line = Line(clock, counter.on_import_edge)
    for i in range(200):
        line.pulse(1000 + i * 60, width=30, bounce_pairs=3, spacing=1)
    # Each transition bounces 3 times: 3 false pulse starts at the start, 3 at the end.
    assert counter.take() == (200, 0, 200 * 6)


def test_bounce_at_pulse_end_is_not_a_pulse_even_after_the_lockout():
    # The end-of-pulse bounce comes a full width (30 ms) after the accepted start, beyond
    # a 20 ms lockout: only the "released for debounce_ms" rule rejects it.
    clock, counter = make(debounce_ms=20)
    line = Line(clock, counter.on_import_edge)
    line.pulse(100, width=40, bounce_pairs=1, spacing=2)
    assert counter.take() == (1, 0, 2)


def test_edge_within_debounce_of_last_accepted_edge_is_rejected():
    # Active edges only (both_edges=False): the lockout against the last accepted edge.
    clock, counter = make(debounce_ms=20, both_edges=False)
    pin = FakePin(0)
    for t in (0, 10, 19, 20, 39, 40, 100):
        clock.set(t)
        counter.on_import_edge(pin)
    # accepted: 0, 20, 40, 100; rejected: 10, 19 (after 0) and 39 (after 20).
    assert counter.take() == (4, 0, 3)


def test_separate_channels_debounce_independently():
    clock, counter = make(debounce_ms=20)
    imp = Line(clock, counter.on_import_edge)
    exp = Line(clock, counter.on_export_edge)
    imp.drive(100, 0)
    exp.drive(105, 0)  # 5 ms after an import edge: another input, so accepted
    imp.drive(110, 1)
    exp.drive(140, 1)
    exp.drive(200, 0)
    assert counter.take() == (1, 2, 0)


def test_rising_edge_wiring_counts_high_pulses():
    clock, counter = make(debounce_ms=20, active_level=1)
    line = Line(clock, counter.on_import_edge, idle=0)
    for i in range(10):
        line.pulse(i * 100, width=50, bounce_pairs=2)
    assert counter.take() == (10, 0, 40)


def test_direction_wiring_books_by_direction_input():
    direction = FakePin(0)
    clock, counter = make(debounce_ms=20, direction_pin=direction)
    line = Line(clock, counter.on_pulse_edge)
    for i in range(5):
        line.pulse(i * 100)
    direction.level = 1  # high = export (default)
    for i in range(5, 12):
        line.pulse(i * 100, bounce_pairs=1)
    assert counter.take() == (5, 7, 14)


def test_direction_export_level_is_configurable():
    direction = FakePin(0)
    clock, counter = make(debounce_ms=20, direction_pin=direction, export_level=0)
    line = Line(clock, counter.on_pulse_edge)
    line.pulse(100)
    direction.level = 1
    line.pulse(200)
    assert counter.take() == (1, 1, 0)


def test_counter_wraps_below_2_30_and_take_is_modulo():
    clock, counter = make(debounce_ms=20)
    line = Line(clock, counter.on_import_edge)
    counter._counts[IMPORT] = COUNT_MASK - 2  # as after years of pulses
    counter._counts[REJECTED] = COUNT_MASK
    counter.take()
    line.pulse(100)
    line.pulse(200, bounce_pairs=1)
    assert counter._counts[IMPORT] == COUNT_MASK
    for i in range(3, 8):
        line.pulse(i * 100)
    assert counter._counts[IMPORT] == 4  # wrapped through 0, never reached 2**30
    assert counter._counts[REJECTED] == 1
    assert counter.take() == (7, 0, 2)
    totals = counter.totals()
    assert totals[IMPORT] == COUNT_MASK - 2 + 7
    assert totals[REJECTED] == COUNT_MASK + 2


def test_totals_include_untaken_counts_and_take_nothing():
    clock, counter = make()
    line = Line(clock, counter.on_export_edge)
    line.pulse(100)
    assert counter.totals() == (0, 1, 0)
    line.pulse(200)
    assert counter.totals() == (0, 2, 0)
    assert counter.take() == (0, 2, 0)
    assert counter.totals() == (0, 2, 0)


def test_debounce_across_the_ticks_wrap():
    clock, counter = make(debounce_ms=20, start=TICKS_WRAP - 50)
    line = Line(clock, counter.on_import_edge)
    line.pulse(TICKS_WRAP - 40, width=30)  # ends at wrap - 10
    line.drive(TICKS_WRAP + 5, 0)  # released only 15 ms ago, across the wrap: rejected
    line.drive(TICKS_WRAP + 6, 1)
    line.pulse(TICKS_WRAP + 40)  # released 34 ms ago: accepted
    assert counter.take() == (2, 0, 1)


def test_take_reads_counts_inside_an_irq_disabled_section():
    calls = []

    def disable():
        calls.append("disable")
        return 7

    def enable(state):
        calls.append(("enable", state))

    clock, counter = make(disable_irq=disable, enable_irq=enable)
    counter.take()
    counter.totals()
    assert calls == ["disable", ("enable", 7), "disable", ("enable", 7)]


def _drive_under_heap_lock(handlers, pins, script, clock):
    """Replays (pin index, t, level) rows calling handlers; no allocation in this loop."""
    n = len(script) // 3
    i = 0
    while i < n:
        pin = pins[script[3 * i]]
        clock.t[0] = script[3 * i + 1]
        pin.level = script[3 * i + 2]
        handlers[script[3 * i]](pin)
        i += 1


def test_handlers_allocate_nothing_under_heap_lock():
    direction = FakePin(1)
    clock, counter = make(debounce_ms=20, direction_pin=direction)
    pins = (FakePin(1), FakePin(1), FakePin(1))
    counter._counts[EXPORT] = COUNT_MASK  # the next export pulse wraps to 0 inside the IRQ
    script = array(
        "i",
        [
            0, 100, 0,  # import pulse start: accepted
            0, 101, 1,  # bounce
            0, 102, 0,  # rejected (lockout)
            0, 130, 1,  # release
            0, 131, 0,  # end bounce: rejected (released 1 ms ago)
            0, 132, 1,
            0, 200, 0,  # accepted
            0, 230, 1,
            1, 300, 0,  # export pulse: accepted, count wraps to 0
            1, 305, 1,
            1, 306, 0,  # rejected
            1, 340, 1,
            2, 400, 0,  # direction wiring, direction high: export
            2, 430, 1,
            2, 431, 0,  # rejected
            2, 432, 1,
        ],
    )  # fmt: skip
    handlers = (counter.on_import_edge, counter.on_export_edge, counter.on_pulse_edge)
    if RUNTIME == "micropython":
        import micropython

        micropython.heap_lock()
        try:
            _drive_under_heap_lock(handlers, pins, script, clock)
        finally:
            micropython.heap_unlock()
    else:
        _drive_under_heap_lock(handlers, pins, script, clock)
    assert counter._counts[IMPORT] == 2
    assert counter._counts[EXPORT] == 1  # MASK + 1 wrapped to 0, then the direction pulse
    assert counter._counts[REJECTED] == 4


def test_heap_lock_really_catches_an_allocating_handler():
    # Proves the test above could fail: a handler that allocates raises under heap_lock.
    if RUNTIME != "micropython":
        return
    import micropython

    sink = [None]

    def allocating(pin):
        sink[0] = [pin]

    micropython.heap_lock()
    try:
        allocating(1)
        failed = False
    except MemoryError:
        failed = True
    finally:
        micropython.heap_unlock()
    assert failed


def pulse_settings(section):
    """The complete "pulses" settings of a config's section (shared.config)."""
    from shared.config import settings

    return settings({"pulses": section})["pulses"]


def test_pulse_settings_are_filled_with_defaults():
    cfg = pulse_settings({})
    assert cfg["wiring"] == "separate"
    assert cfg["debounce_ms"] == 20 and cfg["min_width_ms"] == 30
    assert cfg["imp_per_kwh"] == 1000 and cfg["edge"] == "falling"
    assert pulse_settings({"debounce_ms": 29})["debounce_ms"] == 29


def test_debounce_at_or_above_pulse_width_is_refused_with_reason():
    for bad in (30, 50, 100):
        exc = raises(ValueError, pulse_settings, {"debounce_ms": bad})
        msg = str(exc)
        assert "pulses.debounce_ms = %d" % bad in msg, msg
        assert "0 <= debounce_ms < min_width_ms (30)" in msg, msg
        assert "rejects real pulses" in msg, msg
    exc = raises(ValueError, pulse_settings, {"debounce_ms": 40, "min_width_ms": 40})
    assert "min_width_ms (40)" in str(exc)
    raises(ValueError, pulse_settings, {"debounce_ms": -1})
    raises(ValueError, pulse_settings, {"debounce_ms": 2.5})


def test_other_pulse_settings_are_validated():
    for bad in (0, -1000, "1000", True, 1000.0):
        exc = raises(ValueError, pulse_settings, {"imp_per_kwh": bad})
        assert "pulses.imp_per_kwh" in str(exc) and "1..1000000" in str(exc)
    exc = raises(ValueError, pulse_settings, {"wiring": "quadrature"})
    assert "pulses.wiring = 'quadrature'" in str(exc)
    raises(ValueError, pulse_settings, {"edge": "both"})
    raises(ValueError, pulse_settings, {"export_level": 2})
    raises(ValueError, pulse_settings, {"min_width_ms": 0})
    exc = raises(ValueError, pulse_settings, {"debounce": 20})
    assert "pulses.debounce is not a setting" in str(exc)


def test_from_config_builds_a_matching_counter():
    clock = VirtualClock()
    direction = FakePin(1)
    counter = PulseCounter.from_config(
        pulse_settings(
            {"wiring": "direction", "edge": "rising", "debounce_ms": 10, "export_level": 0}
        ),
        direction_pin=direction,
        ticks_ms=clock.ticks,
    )
    assert counter.debounce_ms == 10
    line = Line(clock, counter.on_pulse_edge, idle=0)
    line.pulse(100)
    assert counter.take() == (1, 0, 0)  # direction high, export_level 0: import
    raises(ValueError, PulseCounter.from_config, pulse_settings({"wiring": "direction"}))


def test_runtime_is_known():
    assert sys.implementation.name in ("cpython", "micropython")
