# The S0 pulse counter: allocation-free hard-IRQ edge handlers with debounce, in viper.
#
# The board layer wires pin interrupts (or the simulator) to the handlers bound in __init__;
# the main loop calls take() for the counts since the last take. Everything the handlers
# touch is preallocated (array('i') and small ints below 2**30), so they run as hard
# interrupts on rp2 and under micropython.heap_lock() in the tests. The handler body is
# viper (native code: compile with mpy-cross -march), which makes an edge cost about as much
# as the bare minimum a handler can do (bench/bench_pulses.py).
#
# This is the project's only native code, and CircuitPython refuses @micropython.viper at
# compile time (SyntaxError): no CircuitPython board imports this module (feather_rp2040_cp
# counts with countio; tests/test_circuitpython.py checks it never loads there).
import sys
from array import array

import micropython  # the compiler knows @micropython.viper by that spelling only
from micropython import const

from netmeter.pulses import (
    COUNT_MASK,
    DEFAULT_DEBOUNCE_MS,
    EDGE_FALLING,
    EXPORT,
    IMPORT,
    WIRING_DIRECTION,
)
from shared import port

if sys.implementation.name == "cpython":  # the tests run the handlers as plain Python

    def ptr32(buf):  # a viper cast, known to MicroPython's compiler only
        return buf


def _no_irq_disable():
    return 0


def _no_irq_enable(state):
    pass


def default_irq_section():
    try:
        import machine

        return machine.disable_irq, machine.enable_irq
    except (ImportError, AttributeError):
        # The unix port and CPython have no interrupts to mask.
        return _no_irq_disable, _no_irq_enable


# Per-input state: three ints per input (last accepted tick, last release tick, flags).
_LAST_ACCEPT = const(0)
_LAST_RELEASE = const(1)
_FLAGS = const(2)
_ACCEPTED_ONCE = const(1)  # _LAST_ACCEPT holds a time
_RELEASED = const(2)  # the line went inactive since the last accepted edge
_RELEASE_TIMED = const(4)  # _LAST_RELEASE holds a time
# Viper sees only this module's const() names as integers; these mirror netmeter.pulses.
_MASK = const(0x3FFFFFFF)  # COUNT_MASK
_EXPORT = const(1)  # EXPORT
_REJECTED = const(2)  # REJECTED
# Settings kept in the same array, so the handler reads plain ints, not attributes.
_WINDOW = const(3)
_ACTIVE = const(4)
_CHANNEL = const(5)
_EXPORT_LEVEL = const(6)
_HAS_DIRECTION = const(7)


class _Input:
    """One S0 input: its debounce state and its edge handler (hard-IRQ safe).

    Everything the handler touches was allocated here: the state array (which also holds
    the settings) and the shared counts. Elapsed ticks are (now - then) & _MASK, the
    same as time.ticks_diff for the past 2**29 ms, without a function call.
    """

    def __init__(
        self, channel, counts, ticks_ms, window, active, both_edges, direction_pin=None,
        export_level=1,
    ):  # fmt: skip
        self.counts = counts
        self.ticks = ticks_ms
        self.dir_pin = direction_pin
        # The line counts as released at boot: the first pulse is taken.
        has_direction = 0 if direction_pin is None else 1
        self.state = array(
            "i", [0, 0, _RELEASED, window, active, channel, export_level, has_direction]
        )
        self.edge = self._edge if both_edges else self._start_edge

    # -- interrupt side: no allocation below this line ------------------------------------

    @micropython.viper
    def _edge(self, pin):
        now = int(self.ticks())
        s = ptr32(self.state)
        flags = s[_FLAGS]
        if int(pin.value()) != s[_ACTIVE]:
            s[_LAST_RELEASE] = now
            s[_FLAGS] = flags | _RELEASED | _RELEASE_TIMED
            return
        window = s[_WINDOW]
        channel = _REJECTED
        if flags & _ACCEPTED_ONCE and ((now - s[_LAST_ACCEPT]) & _MASK) < window:
            pass
        elif not (flags & _RELEASED):
            pass
        elif flags & _RELEASE_TIMED and ((now - s[_LAST_RELEASE]) & _MASK) < window:
            pass
        else:
            s[_LAST_ACCEPT] = now
            s[_FLAGS] = (flags | _ACCEPTED_ONCE) & ~_RELEASED
            channel = s[_CHANNEL]
            if s[_HAS_DIRECTION] and int(self.dir_pin.value()) == s[_EXPORT_LEVEL]:
                channel = _EXPORT
        # Increment modulo 2**30 without ever forming 2**30 (a long int on 32-bit ports).
        counts = ptr32(self.counts)
        value = counts[channel]
        counts[channel] = 0 if value == _MASK else value + 1

    @micropython.viper
    def _start_edge(self, pin):
        # Called on active edges only: the lockout from the last accepted edge is the rule.
        now = int(self.ticks())
        s = ptr32(self.state)
        flags = s[_FLAGS]
        channel = _REJECTED
        if not (flags & _ACCEPTED_ONCE) or ((now - s[_LAST_ACCEPT]) & _MASK) >= s[_WINDOW]:
            s[_LAST_ACCEPT] = now
            s[_FLAGS] = flags | _ACCEPTED_ONCE
            channel = s[_CHANNEL]
            if s[_HAS_DIRECTION] and int(self.dir_pin.value()) == s[_EXPORT_LEVEL]:
                channel = _EXPORT
        counts = ptr32(self.counts)
        value = counts[channel]
        counts[channel] = 0 if value == _MASK else value + 1


class PulseCounter:
    """Debounced S0 counts for import and export, fed by hard-IRQ handlers.

    Handlers: on_import_edge(pin), on_export_edge(pin) for separate wiring; on_pulse_edge(pin)
    for direction wiring (reads direction_pin.value() at each accepted edge). Each takes the
    interrupting pin and reads pin.value() to tell the pulse start (active level) from the
    release. An active edge is accepted only if
      - it is at least debounce_ms after the last accepted edge (bounce at the pulse start),
      - the line was released since the last accepted edge, and
      - the release was at least debounce_ms ago (bounce at the pulse end, which comes a
        full pulse width after the accepted edge and a lockout alone would count).
    Rejected active edges are counted. With both_edges=False the handlers are called on
    active edges only and only the lockout applies.
    """

    def __init__(
        self,
        debounce_ms=DEFAULT_DEBOUNCE_MS,
        active_level=0,
        direction_pin=None,
        export_level=1,
        both_edges=True,
        ticks_ms=None,
        disable_irq=None,
        enable_irq=None,
    ):
        if ticks_ms is None:
            ticks_ms = port.ticks_ms
        if disable_irq is None or enable_irq is None:
            disable_irq, enable_irq = default_irq_section()
        self.debounce_ms = debounce_ms
        self._disable_irq = disable_irq
        self._enable_irq = enable_irq
        self._counts = array("i", [0, 0, 0])
        self._taken = [0, 0, 0]
        self._totals = [0, 0, 0]
        args = (self._counts, ticks_ms, debounce_ms, active_level, both_edges)
        self._inputs = (
            _Input(IMPORT, *args),
            _Input(EXPORT, *args),
            _Input(IMPORT, *args, direction_pin=direction_pin, export_level=export_level),
        )
        # Bound once here: creating a bound method inside an interrupt would allocate.
        self.on_import_edge = self._inputs[0].edge
        self.on_export_edge = self._inputs[1].edge
        self.on_pulse_edge = self._inputs[2].edge

    @classmethod
    def from_config(cls, cfg, direction_pin=None, **kwargs):
        """A counter for the "pulses" settings (complete: shared.config)."""
        if cfg["wiring"] == WIRING_DIRECTION and direction_pin is None:
            raise ValueError("pulses.wiring = 'direction' needs a direction input pin")
        return cls(
            debounce_ms=cfg["debounce_ms"],
            active_level=0 if cfg["edge"] == EDGE_FALLING else 1,
            direction_pin=direction_pin if cfg["wiring"] == WIRING_DIRECTION else None,
            export_level=cfg["export_level"],
            **kwargs,
        )

    # -- main-loop side -------------------------------------------------------------------

    def _raw(self):
        state = self._disable_irq()
        counts = self._counts
        raw = (counts[0], counts[1], counts[2])
        self._enable_irq(state)
        return raw

    def take(self):
        """(import_delta, export_delta, rejected_delta) since the last take()."""
        raw = self._raw()
        taken = self._taken
        totals = self._totals
        deltas = [0, 0, 0]
        for i in range(3):
            deltas[i] = (raw[i] - taken[i]) & COUNT_MASK
            taken[i] = raw[i]
            totals[i] += deltas[i]
        return (deltas[0], deltas[1], deltas[2])

    def totals(self):
        """(import_total, export_total, rejected_total) since boot, not wrapped; takes nothing."""
        raw = self._raw()
        taken = self._taken
        totals = self._totals
        return tuple(totals[i] + ((raw[i] - taken[i]) & COUNT_MASK) for i in range(3))
