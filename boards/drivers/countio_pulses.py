# CircuitPython S0 inputs: countio.Counter (hardware edge counting), polled by take().
from netmeter.pulses import EDGE_FALLING

_WRAP = 1 << 32  # count is a C int32 in the port: a difference modulo 2**32 survives wrap


class CountioPulses:
    """take()/totals() over two countio.Counter objects; rejected is always 0.

    countio counts every edge (no debounce): a contact output needs the RC filter of
    docs/wiring.md. The counters are never reset, so no edge is lost between read and reset.
    Separate wiring on PWM channel-B pins only: shared.config refuses anything else.
    """

    def __init__(self, countio, digitalio, pulse_cfg, pins):
        edge = countio.Edge.FALL if pulse_cfg["edge"] == EDGE_FALLING else countio.Edge.RISE
        pull = digitalio.Pull.UP if pulse_cfg["edge"] == EDGE_FALLING else digitalio.Pull.DOWN
        self._counters = (
            countio.Counter(pins["import"], edge=edge, pull=pull),
            countio.Counter(pins["export"], edge=edge, pull=pull),
        )
        self._last = [self._counters[0].count, self._counters[1].count]
        self._totals = [0, 0]

    def _deltas(self):
        out = [0, 0]
        for i in range(2):
            out[i] = (self._counters[i].count - self._last[i]) % _WRAP
        return out

    def take(self):
        deltas = self._deltas()
        for i in range(2):
            self._last[i] = (self._last[i] + deltas[i]) % _WRAP
            self._totals[i] += deltas[i]
        return (deltas[0], deltas[1], 0)

    def totals(self):
        deltas = self._deltas()
        return (self._totals[0] + deltas[0], self._totals[1] + deltas[1], 0)

    def deinit(self):
        for c in self._counters:
            c.deinit()
