# Meter register maps as data: decode/encode register words and plan reads (run time).
#
# Used by the firmware (to decode replies) and by the simulated meter (to encode values), so
# the encoding of every quantity has one definition.
#
# Conventions
# - Addresses are 0-based PDU addresses. `shared.mapconfig.parse_address` converts
#   installer notations:
#   an int or decimal string 0..30000 is already a PDU address; 30001..39999 and
#   300001..365536 are Modicon input registers (function 04), 40001..49999 and
#   400001..465536 Modicon holding registers (function 03), so 40001 is holding register 0;
#   a "0x..." hex string is always a 0-based PDU address (as in vendor hex maps). Any other
#   number (40000, 50000..299999, ...) is ambiguous and rejected: write it in hex.
# - A value is raw * multiplier * 10**sf, in the unit the map states (W, var, VA, V, A, Hz,
#   PF as a ratio, Wh/kWh/varh/kvarh). Power is import positive, export negative.
# - Word orders name the byte order of a 32-bit value ABCD (A most significant) as it appears
#   on the wire: ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA both. A 16-bit
#   register has its bytes swapped under BADC and DCBA, untouched under ABCD and CDAB.
# - A SINT16 register holding 0x8000 means "not implemented" (SunSpec) and decodes to None.
# - Energy for the integer-only netting core: `energy_count` gives an integer count and the
#   bit width at which the register wraps; `mwh_per_count` gives the exact rational size of
#   one count in mWh (mvarh for reactive registers). Float registers become an integer count
#   of mWh once, exactly and identically on every runtime (no float arithmetic involved).
import struct

from micropython import const

READ_HOLDING = const(3)
READ_INPUT = const(4)
MAX_READ_REGISTERS = const(125)
DEFAULT_MAX_GAP = const(4)

UINT16 = "UINT16"
SINT16 = "SINT16"
UINT32 = "UINT32"
SINT32 = "SINT32"
FLOAT32 = "FLOAT32"
DATA_TYPES = (UINT16, SINT16, UINT32, SINT32, FLOAT32)
# name -> (registers, signed, float)
_TYPE_INFO = {
    UINT16: (1, False, False),
    SINT16: (1, True, False),
    UINT32: (2, False, False),
    SINT32: (2, True, False),
    FLOAT32: (2, True, True),
}

ABCD = "ABCD"
CDAB = "CDAB"
BADC = "BADC"
DCBA = "DCBA"
WORD_ORDERS = (ABCD, CDAB, BADC, DCBA)

_NOT_IMPLEMENTED_SINT16 = const(0x8000)
# mWh (or mvarh) in one unit of each energy unit.
ENERGY_UNITS = {"Wh": 1000, "kWh": 1000000, "varh": 1000, "kvarh": 1000000}
POWER_UNITS = ("W", "var", "VA")


class ConfigError(ValueError):
    pass


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def _reduce(num, den):
    g = _gcd(abs(num), den) or 1
    return num // g, den // g


def _rational(multiplier):
    """An exact (num, den) for an int, a decimal fraction such as 0.1, or a (num, den) pair."""
    if isinstance(multiplier, tuple):
        num, den = multiplier
    elif isinstance(multiplier, int) and not isinstance(multiplier, bool):
        num, den = multiplier, 1
    elif isinstance(multiplier, float):
        den = 1
        for _ in range(10):
            scaled = multiplier * den
            num = round(scaled)
            # Tolerance fits single-precision boards too: 0.001 * 1000 is not exactly 1.0 there.
            if num != 0 and abs(scaled - num) <= 1e-6 * abs(scaled):
                break
            den *= 10
        else:
            raise ValueError("multiplier %r is not a decimal fraction" % (multiplier,))
    else:
        raise ValueError("multiplier %r is not a number" % (multiplier,))
    if den <= 0 or num == 0:
        raise ValueError("multiplier %r must not be zero" % (multiplier,))
    return _reduce(num, den)


def _swap_bytes(word):
    return ((word & 0xFF) << 8) | (word >> 8)


def _to_abcd(w0, w1, order):
    # Both swaps are involutions and commute, so the same function encodes and decodes.
    if order == CDAB or order == DCBA:
        w0, w1 = w1, w0
    if order == BADC or order == DCBA:
        w0, w1 = _swap_bytes(w0), _swap_bytes(w1)
    return w0, w1


def _round_half_even(num, den):
    """num/den rounded to the nearest int, ties to even (as Python's round), den > 0."""
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    return q


def float32_to_scaled_int(bits, num, den):
    """round(value * num / den) for the float32 with these bits, exactly; NaN/inf: ValueError."""
    exponent = (bits >> 23) & 0xFF
    mantissa = bits & 0x7FFFFF
    if exponent == 0xFF:
        raise ValueError("float32 0x%08x is not a finite number" % bits)
    if exponent:
        mantissa |= 0x800000
    else:
        exponent = 1  # subnormal
    shift = exponent - 150  # value = mantissa * 2**shift
    n = mantissa * num
    d = den
    if shift >= 0:
        n <<= shift
    else:
        d <<= -shift
    count = _round_half_even(n, d)
    return -count if bits & 0x80000000 else count


class Quantity:
    """One meter quantity: where it lives, how it is encoded, and its unit."""

    def __init__(
        self,
        name,
        function,
        address,
        dtype,
        order=ABCD,
        multiplier=1,
        sf=0,
        unit="",
        scale_key=None,
    ):
        if dtype not in _TYPE_INFO:
            raise ConfigError(
                "%s: data type %r is unknown; use one of %s" % (name, dtype, ", ".join(DATA_TYPES))
            )
        if order not in WORD_ORDERS:
            raise ConfigError(
                "%s: word order %r is unknown; use one of %s"
                % (name, order, ", ".join(WORD_ORDERS))
            )
        if function != READ_HOLDING and function != READ_INPUT:
            raise ConfigError("%s: function %r is not 3 (holding) or 4 (input)" % (name, function))
        self.name = name
        self.function = function
        self.address = address
        self.dtype = dtype
        self.order = order
        self.multiplier = multiplier
        self.sf = sf
        self.unit = unit
        self.scale_key = scale_key  # the config key that sets this quantity's scale
        self.size, self.signed, self.is_float = _TYPE_INFO[dtype]
        self.bits = 16 * self.size
        num, den = _rational(multiplier)
        if sf >= 0:
            num *= 10**sf
        else:
            den *= 10**-sf
        self.scale_num, self.scale_den = _reduce(num, den)
        self.is_energy = unit in ENERGY_UNITS

    def __repr__(self):
        return "Quantity(%s, fn %d @%d, %s %s, x%d/%d %s)" % (
            self.name,
            self.function,
            self.address,
            self.dtype,
            self.order,
            self.scale_num,
            self.scale_den,
            self.unit,
        )

    def raw(self, words):
        """The register's integer content (signed for SINT types, the IEEE bits for FLOAT32)."""
        if len(words) != self.size:
            raise ValueError(
                "%s needs %d register(s), got %d" % (self.name, self.size, len(words))
            )
        if self.size == 1:
            word = words[0]
            if self.order == BADC or self.order == DCBA:
                word = _swap_bytes(word)
            if self.signed and word & 0x8000:
                return word - 0x10000
            return word
        hi, lo = _to_abcd(words[0], words[1], self.order)
        value = (hi << 16) | lo
        if self.signed and not self.is_float and value & 0x80000000:
            return value - 0x100000000
        return value

    def decode(self, words):
        """Value in the map's unit, or None for a SunSpec "not implemented" SINT16."""
        raw = self.raw(words)
        num, den = self.scale_num, self.scale_den
        if self.is_float:
            value = struct.unpack(">f", struct.pack(">I", raw))[0]
            if num == den:
                return value
            return value * num / den
        if self.dtype == SINT16 and raw == -_NOT_IMPLEMENTED_SINT16:
            return None
        if den == 1:
            return raw * num
        return raw * num / den

    def encode(self, value):
        """Register words for value (the simulator's side); None encodes "not implemented"."""
        num, den = self.scale_num, self.scale_den
        if self.is_float:
            bits = struct.unpack(">I", struct.pack(">f", value * den / num))[0]
            return list(_to_abcd(bits >> 16, bits & 0xFFFF, self.order))
        if value is None:
            if self.dtype != SINT16:
                raise ValueError("%s: only a SINT16 register can be 'not implemented'" % self.name)
            raw = -_NOT_IMPLEMENTED_SINT16
        elif isinstance(value, int) and num == 1:
            raw = value * den
        else:
            raw = round(value * den / num)
        if self.is_energy and not self.signed:
            raw %= 1 << self.bits  # a cumulative register wraps
        low = -(1 << (self.bits - 1)) if self.signed else 0
        high = (1 << (self.bits - 1 if self.signed else self.bits)) - 1
        if not low <= raw <= high:
            raise ValueError(
                "%s=%r is raw %d, outside the %s range %d..%d"
                % (self.name, value, raw, self.dtype, low, high)
            )
        raw &= (1 << self.bits) - 1
        if self.size == 1:
            if self.order == BADC or self.order == DCBA:
                raw = _swap_bytes(raw)
            return [raw]
        return list(_to_abcd(raw >> 16, raw & 0xFFFF, self.order))


def mwh_per_count(q):
    """(num, den): one count of energy_count(q, ...) is num/den mWh (mvarh) exactly."""
    per_unit = ENERGY_UNITS.get(q.unit)
    if per_unit is None:
        raise ValueError("%s is in %r, not an energy unit" % (q.name, q.unit))
    if q.is_float:
        return 1, 1
    return _reduce(q.scale_num * per_unit, q.scale_den)


def energy_count(q, words):
    """(count, wrap_bits): an integer register's raw count and its width, or for a float
    register the value as an integer count of mWh (rounded, ties to even) and None."""
    per_unit = ENERGY_UNITS.get(q.unit)
    if per_unit is None:
        raise ValueError("%s is in %r, not an energy unit" % (q.name, q.unit))
    raw = q.raw(words)
    if q.is_float:
        return float32_to_scaled_int(raw, q.scale_num * per_unit, q.scale_den), None
    return raw, q.bits


class RegisterMap:
    """A meter's quantities plus the polling limits that go with them."""

    def __init__(self, name, quantities, max_gap=DEFAULT_MAX_GAP, unit_id=1):
        self.name = name
        self.quantities = list(quantities)
        self.max_gap = max_gap
        self.max_read = MAX_READ_REGISTERS
        self.unit_id = unit_id
        self.site_limit_w = None
        self._by_name = {}
        for q in self.quantities:
            self._by_name[q.name] = q

    def names(self):
        return [q.name for q in self.quantities]

    def __contains__(self, name):
        return name in self._by_name

    def quantity(self, name):
        q = self._by_name.get(name)
        if q is None:
            raise ConfigError(
                "quantity %r is not in map %r; it has %s"
                % (name, self.name, ", ".join(self.names()))
            )
        return q


class Read:
    """One request: function, first register, register count, and the quantities it covers."""

    def __init__(self, function, start, count, quantities):
        self.function = function
        self.start = start
        self.count = count
        self.quantities = quantities

    def __iter__(self):
        yield self.function
        yield self.start
        yield self.count
        yield self.quantities

    def __repr__(self):
        return "Read(fn %d, %d+%d: %s)" % (
            self.function,
            self.start,
            self.count,
            ",".join(q.name for q in self.quantities),
        )

    def words_of(self, q, registers):
        offset = q.address - self.start
        return registers[offset : offset + q.size]


def plan_reads(regmap, names, max_registers=MAX_READ_REGISTERS, max_gap=None):
    """Group the named quantities into as few reads as possible.

    Quantities of one function are sorted by address; a read grows to take the next quantity
    when the unused registers between them number at most max_gap (default: the map's) and
    the read stays within max_registers (at most 125, the Modbus limit).
    """
    if not 1 <= max_registers <= MAX_READ_REGISTERS:
        raise ConfigError(
            "max_registers=%r: a Modbus read holds 1..%d registers"
            % (max_registers, MAX_READ_REGISTERS)
        )
    if max_gap is None:
        max_gap = regmap.max_gap
    reads = []
    for function in (READ_HOLDING, READ_INPUT):
        chosen = [regmap.quantity(n) for n in names if regmap.quantity(n).function == function]
        chosen = sorted(chosen, key=lambda q: q.address)
        current = None
        for q in chosen:
            if q.size > max_registers:
                raise ConfigError(
                    "%s needs %d registers, more than max_registers=%d"
                    % (q.name, q.size, max_registers)
                )
            if current is not None:
                end = current.start + current.count
                new_end = max(end, q.address + q.size)
                if q.address - end <= max_gap and new_end - current.start <= max_registers:
                    current.count = new_end - current.start
                    current.quantities.append(q)
                    continue
            current = Read(function, q.address, q.size, [q])
            reads.append(current)
    return reads
