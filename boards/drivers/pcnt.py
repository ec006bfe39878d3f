# esp32 S0 inputs on the hardware pulse counter (machine.Counter, PCNT), polled by take().
from boards.drivers.irqpins import input_pull
from netmeter.pulses import EDGE_FALLING

# The PCNT glitch filter counts APB cycles (at most 1023 at 80 MHz, about 12.8 us): it
# removes EMI spikes, not millisecond contact bounce. The driver asks for the debounce
# window and the port uses the longest filter it has below that (machine.Counter docs).
_NS_PER_MS = 1000000


class PcntPulses:
    """take()/totals() over two machine.Counter units (import, export).

    The hardware filter drops glitches silently, so rejected counts are always 0 here.
    Separate wiring only: shared.config refuses direction wiring for esp32_s3.
    """

    def __init__(self, machine, pulse_cfg, pin_numbers, unit_ids=(0, 1)):
        Pin = machine.Pin
        pull = input_pull(Pin, pulse_cfg)
        Counter = machine.Counter
        edge = Counter.FALLING if pulse_cfg["edge"] == EDGE_FALLING else Counter.RISING
        filter_ns = pulse_cfg["debounce_ms"] * _NS_PER_MS
        self.pins = (
            Pin(pin_numbers["import"], Pin.IN, pull),
            Pin(pin_numbers["export"], Pin.IN, pull),
        )
        self._counters = (
            Counter(unit_ids[0], self.pins[0], edge=edge, filter_ns=filter_ns),
            Counter(unit_ids[1], self.pins[1], edge=edge, filter_ns=filter_ns),
        )
        self._totals = [0, 0]

    def take(self):
        # value(0) reads and zeroes atomically, so no edge falls between read and reset,
        # and the count never grows beyond small-int range.
        imp = self._counters[0].value(0)
        exp = self._counters[1].value(0)
        self._totals[0] += imp
        self._totals[1] += exp
        return (imp, exp, 0)

    def totals(self):
        return (
            self._totals[0] + self._counters[0].value(),
            self._totals[1] + self._counters[1].value(),
            0,
        )
