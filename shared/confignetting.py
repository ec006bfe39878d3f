# The "netting" settings: sources, billing, interval and the cross-check (their defaults,
# shared.config's NETTING_DEFAULTS, come as an argument). Boot-only; shared.config loads it
# only for a config that has a netting section.
from shared.configcheck import (
    ConfigInvalid,
    int_in,
    is_number,
    known_keys,
    number_in,
    one_of,
    section,
    shown,
)

INTERVALS_MIN = (1, 5, 10, 15, 30, 60)
SOURCES = ("registers", "power", "pulses")
SUMMATIONS = ("vector", "arithmetic")

_INTS = {
    "site_limit_w": (1, 10000000),
    "max_gap_s": (1, 86400),
    "crosscheck_floor_mwh": (0, 100000000),
    "pulse_imp_per_kwh": (1, 1000000),
}
WH_PER_PULSE_DECIMALS = 4  # netmeter.energy.pulse_constant keeps 0.1 mWh


def netting_section(net, defaults, imp_per_kwh=None):
    """The "netting" section net completed from defaults; imp_per_kwh is pulses.imp_per_kwh
    if the config sets it (the meter's S0 constant): pulse_imp_per_kwh takes it when not set
    itself."""
    section("netting", net)
    known_keys("netting.", net, tuple(defaults))
    out = dict(defaults)
    out.update(net)
    if imp_per_kwh is not None and "pulse_imp_per_kwh" not in net:
        out["pulse_imp_per_kwh"] = imp_per_kwh
    one_of("netting.interval_min", out["interval_min"], INTERVALS_MIN)
    sources = out["sources"]
    if not isinstance(sources, (list, tuple)) or not sources:
        raise ConfigInvalid(
            "netting.sources = %s: must be a non-empty list of %s"
            % (shown(sources), ", ".join(SOURCES))
        )
    for name in sources:
        one_of("netting.sources", name, SOURCES)
    if len(set(sources)) != len(sources):
        raise ConfigInvalid("netting.sources = %s: a source is listed twice" % (shown(sources),))
    out["sources"] = tuple(sources)
    if out["billing"] not in sources:
        raise ConfigInvalid(
            "netting.billing = %s: must be one of netting.sources (%s)%s"
            % (
                shown(out["billing"]),
                ", ".join(sources),
                "" if "billing" in net else "; set billing, its default is registers",
            )
        )
    one_of("netting.summation", out["summation"], SUMMATIONS)
    for key in _INTS:
        low, high = _INTS[key]
        int_in("netting." + key, out[key], low, high)
    pct = out["crosscheck_percent"]
    if pct is not None:
        if not is_number(pct) or not 0 <= pct <= 100:
            raise ConfigInvalid(
                "netting.crosscheck_percent = %s: must be a number in 0..100, or null (off)"
                % (shown(pct),)
            )
    _pulse_constant(net, out, imp_per_kwh)
    return out


def _pulse_constant(net, out, imp_per_kwh):
    # The meter's S0 constant is said once: pulses.imp_per_kwh, or here as pulse_imp_per_kwh
    # (the same number) or as pulse_wh_per_pulse (in its place).
    if imp_per_kwh is not None and out["pulse_imp_per_kwh"] != imp_per_kwh:
        raise ConfigInvalid(
            "netting.pulse_imp_per_kwh = %s differs from pulses.imp_per_kwh = %s: the meter has "
            "one pulse constant; set it once" % (shown(out["pulse_imp_per_kwh"]), imp_per_kwh)
        )
    wh = out["pulse_wh_per_pulse"]
    if wh is None:
        return
    if "pulse_imp_per_kwh" in net or imp_per_kwh is not None:
        raise ConfigInvalid(
            "netting.pulse_wh_per_pulse = %s and pulse_imp_per_kwh = %s both set the pulse "
            "constant; set one" % (shown(wh), shown(out["pulse_imp_per_kwh"]))
        )
    number_in("netting.pulse_wh_per_pulse", wh, 0, 1000000, low_open=True)
    scaled = wh * 10**WH_PER_PULSE_DECIMALS
    if int(round(scaled)) < 1 or abs(scaled - round(scaled)) > 1e-6 * max(1, scaled):
        raise ConfigInvalid(
            "netting.pulse_wh_per_pulse = %s: at most %d decimals (0.0001 Wh steps), e.g. 2.5"
            % (shown(wh), WH_PER_PULSE_DECIMALS)
        )
