"""The simulated meter's register image in a shared.regmap map, with counter faults."""

import math
from fractions import Fraction

from host.sim.energy import UJ_PER_MWH
from shared.mapconfig import builtin_map
from shared.regmap import ENERGY_UNITS

_PHASE_INDEX = {"l1": 0, "l2": 1, "l3": 2}
_INSTANT_FIELDS = {"v", "i", "p", "q", "s", "pf"}
# SunSpec model 203 registers beside the quantities: offsets from the model ID register of
# the scale factors, keyed by the quantity whose sf they carry.
_SUNSPEC_SF_OFFSETS = {
    "i_l1": 6,
    "v_l1": 15,
    "freq": 17,
    "p_total": 22,
    "s_l1": 27,
    "q_total": 32,
    "pf_l1": 37,
    "import_energy": 54,
    "reactive_q1": 104,
}


def sunspec_fixed_words(regmap):
    """{address: word} a SunSpec 203 meter also holds: the "SunS" marker, a common model
    header, the model ID/length and its scale-factor registers, so a client can discover it."""
    model = regmap.quantity("freq").address - 16
    words = {40000: 0x5375, 40001: 0x6E53, 40002: 1, 40003: 65, model: 203, model + 1: 105}
    for name, offset in _SUNSPEC_SF_OFFSETS.items():
        q = regmap.quantity(name)
        # The register holds the power-of-ten exponent only; PF's percent is in the map.
        words[model + offset] = q.sf & 0xFFFF
    return words


class RegisterError(ValueError):
    """A quantity cannot be encoded (out of the register's range): the meter answers 03."""


class RegisterImage:
    """Encodes the meter's state into register words, in the units the map states.

    Counter faults act on the energy registers only (S0 pulses and the truth go on):
    - `reset_counters()`: every energy register restarts from 0 at the current meter time.
    - `rollover(margin=10)`: integer energy registers jump to 2**bits - margin counts, so
      they wrap past zero after `margin` more counts (float32 registers cannot wrap).
    - `stick_export(True)`: export_energy reads 0 whatever the meter counts.
    - `clear()`: all three off; the registers show the meter's own counters again.
    """

    def __init__(self, meter, regmap="generic"):
        self.meter = meter
        self.regmap = builtin_map(regmap) if isinstance(regmap, str) else regmap
        self._offsets_mwh = {}  # energy quantity name -> mWh added to the meter's counter
        self._export_stuck = False
        self.fixed = {}  # function -> {address: word} that never change
        if self.regmap.name == "sunspec203":
            self.fixed[self.regmap.quantity("freq").function] = sunspec_fixed_words(self.regmap)
        spans = [(q.function, q.address, q.size) for q in self.regmap.quantities]
        spans += [(fn, address, 1) for fn, words in self.fixed.items() for address in words]
        self.blocks = {}  # function -> (first address, register count); unused words are 0
        for function, address, size in spans:
            first, count = self.blocks.get(function, (address, 0))
            first_new = min(first, address)
            end = max(first + count, address + size)
            self.blocks[function] = (first_new, end - first_new)

    # --- faults ----------------------------------------------------------------------------

    def reset_counters(self):
        with self.meter.lock:
            for q in self._energy_quantities():
                self._offsets_mwh[q.name] = -self._counter_mwh(q.name)

    def rollover(self, margin=10):
        """Preset each integer energy register to 2**bits - margin counts from now."""
        with self.meter.lock:
            for q in self._energy_quantities():
                if q.is_float:
                    raise RegisterError("%s is float32: it does not wrap" % q.name)
                mwh_per_count = Fraction(q.scale_num * ENERGY_UNITS[q.unit], q.scale_den)
                target = math.ceil(((1 << q.bits) - margin) * mwh_per_count)
                self._offsets_mwh[q.name] = target - self._counter_mwh(q.name)

    def stick_export(self, stuck=True):
        with self.meter.lock:
            self._export_stuck = stuck

    def clear(self):
        with self.meter.lock:
            self._offsets_mwh.clear()
            self._export_stuck = False

    # --- values ------------------------------------------------------------------------------

    def values(self):
        """{quantity name: value in the map's unit} at the meter's current time; energy
        counters before the 2**bits wrap, which the encoding applies."""
        # One lock with the meter: instant values and counters come from one and the same time.
        with self.meter.lock:
            instant = self.meter.instant()
            return {q.name: self._value(q, instant) for q in self.regmap.quantities}

    def words(self, function):
        """(first address, words, errors) of the whole block read with `function`; errors maps
        register addresses whose quantity could not be encoded to the reason."""
        first, count = self.blocks[function]
        words = [0] * count
        for address, word in self.fixed.get(function, {}).items():
            words[address - first] = word
        errors = {}
        values = self.values()
        for q in self.regmap.quantities:
            if q.function != function:
                continue
            try:
                encoded = q.encode(values[q.name])
            except (ValueError, OverflowError) as exc:
                for address in range(q.address, q.address + q.size):
                    errors[address] = str(exc)
                continue
            words[q.address - first : q.address - first + q.size] = encoded
        return first, words, errors

    # --- internals ---------------------------------------------------------------------------

    def _energy_quantities(self):
        return [q for q in self.regmap.quantities if q.is_energy]

    def _counter_mwh(self, name):
        """The meter's own counter behind an energy register, in whole mWh (or mvarh)."""
        metered = self.meter.metered()
        if name == "import_energy":
            value = metered.a_plus
        elif name == "export_energy":
            value = metered.a_minus
        elif name == "import_reactive":
            value = metered.r_plus
        elif name == "export_reactive":
            value = metered.r_minus
        elif name.startswith("reactive_q"):
            value = metered[1 + int(name[-1])]
        else:
            raise KeyError("no meter counter behind register %r" % name)
        return value // UJ_PER_MWH

    def _value(self, q, instant):
        if q.is_energy:
            if q.name == "export_energy" and self._export_stuck:
                return 0
            mwh = self._counter_mwh(q.name) + self._offsets_mwh.get(q.name, 0)
            per_unit = ENERGY_UNITS[q.unit]
            if q.is_float:
                return mwh / per_unit
            # Registers show completed counts (floor), as a meter's display does; a Fraction
            # keeps encode() exact for any scale.
            count = mwh * q.scale_den // (q.scale_num * per_unit)
            return Fraction(count * q.scale_num, q.scale_den)
        if q.name == "freq":
            return instant.freq
        field, _, which = q.name.partition("_")
        if which == "total":
            return getattr(instant, q.name)
        if field in _INSTANT_FIELDS and which in _PHASE_INDEX:
            index = _PHASE_INDEX[which]
            if index >= len(instant.phases):
                return 0.0  # a single-phase meter has nothing on L2 and L3
            return getattr(instant.phases[index], field)
        raise KeyError("the simulated meter has no value for %r" % q.name)
