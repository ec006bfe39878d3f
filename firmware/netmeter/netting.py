# Builds the netting core (sources + interval accumulator) from a plain config dict.
from netmeter.energy import PowerSource, PulseSource, RegisterSource, pulse_constant
from netmeter.interval import IntervalAccumulator
from shared.config import NETTING_DEFAULTS

# The device's netting defaults (shared.config) and what the register map gives.
DEFAULTS = dict(NETTING_DEFAULTS, register_mwh_per_count=(1000, 1), register_wrap_bits=32)


def make_accumulator(config=None, seq=0):
    cfg = dict(DEFAULTS)
    cfg.update(config or {})
    if cfg["summation"] not in ("vector", "arithmetic"):
        raise ValueError("summation=%r: allowed vector or arithmetic" % cfg["summation"])
    gap_ms = cfg["max_gap_s"] * 1000
    limit = cfg["site_limit_w"]
    sources = {}
    for name in cfg["sources"]:
        if name == "power":
            sources[name] = PowerSource(cfg["summation"] == "vector", limit, gap_ms)
        elif name == "registers":
            sources[name] = RegisterSource(
                tuple(cfg["register_mwh_per_count"]), cfg["register_wrap_bits"], limit, gap_ms
            )
        elif name == "pulses":
            if cfg["pulse_wh_per_pulse"] is not None:
                constant = pulse_constant(wh_per_pulse=cfg["pulse_wh_per_pulse"])
            else:
                constant = pulse_constant(imp_per_kwh=cfg["pulse_imp_per_kwh"])
            sources[name] = PulseSource(constant, gap_ms)
        else:
            raise ValueError("sources: %r is unknown; allowed power, registers, pulses" % name)
    return IntervalAccumulator(
        cfg["interval_min"],
        cfg["billing"],
        sources,
        seq,
        cfg["crosscheck_percent"],
        cfg["crosscheck_floor_mwh"],
    )
