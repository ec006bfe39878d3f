"""Issue 12.1 with hypothesis (CPython): for generated configs, shared.config accepts <=> the
simulated board boots the config and runs a whole poll; a refused config written straight
into config.json boots safe mode naming the same reason. tests/dual/test_config_boots.py is
the seeded loop that runs the same property inside the MicroPython VM."""

from bootcheck import (
    NETTING_INVALID,
    NETTING_VALID,
    PULSES_INVALID,
    PULSES_VALID,
    RS485_INVALID,
    RS485_VALID,
    SOURCES,
    boot_and_poll,
    boot_file,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.config import ConfigInvalid, resolve
from shared.configboards import BOARDS

EXAMPLES = 400
ODD = st.one_of(
    st.integers(-5, 200000),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.none(),
    st.booleans(),
    st.text(max_size=6),
)


def value(valid, invalid=(), clean=False):
    """A value from the table; unless clean, sometimes an edge value, now and then anything."""
    if clean:
        return st.sampled_from(valid)
    parts = [st.sampled_from(valid)] * 6
    if invalid:
        parts.append(st.sampled_from(invalid))
    return st.one_of(*parts, ODD)


def section(valid, invalid, clean):
    return st.fixed_dictionaries(
        {}, optional={k: value(valid[k], invalid.get(k, ()), clean) for k in valid}
    )


def config_strategy(clean):
    """Configs near every rule's edge; clean ones hold only values in range, so that only
    the rules between settings (poll bound, billing, pulse constant) can refuse them."""
    top = {
        "poll_period_s": value((1, 2, 5, 10, 15, 30, 60), (7, 10.0), clean),
        "timeout_ms": value((10, 50, 100, 200, 400, 1000, 3000), (9, 200.0), clean),
        "retries": value((0, 1, 2, 5), (6, 1.0), clean),
        "phases": value((1, 2, 3), (0, 4), clean),
        "watchdog_ms": value((1000, 8000, 60000), (999, 60001), clean),
        "checkpoint_s": value((1, 60, 3600), (0, 60.0), clean),
        "capacity": value((192, 1000, 35040), (191, 1000001), clean),
        "device_id": value(("a", "meter-7"), ("a b", ""), clean),
        "board": value(("unix_sim",), ("toaster",), clean),
    }
    meter = st.fixed_dictionaries(
        {"MAP": st.sampled_from(("generic", "sdm630", "sunspec203"))},
        optional={
            "MAX_READ": st.integers(2 if clean else 0, 125 if clean else 130),
            "MAX_GAP": st.integers(0, 125 if clean else 130),
            "UNIT": st.integers(1 if clean else 0, 247 if clean else 250),
        },
    )
    sources = SOURCES if clean else SOURCES + (["wind"], [], ["power", "power"])
    netting = st.fixed_dictionaries(
        {},
        optional={
            **{k: value(NETTING_VALID[k], NETTING_INVALID[k], clean) for k in NETTING_VALID},
            "sources": st.sampled_from(sources),
            "billing": st.sampled_from(("registers", "power", "pulses", "wind")[: 4 - clean]),
            "pulse_imp_per_kwh": value((1000, 800, 2000), (0, 1000.0), clean),
            "pulse_wh_per_pulse": value((2.5, 0.3125, 1), (0, 0.00001), clean),
        },
    )
    pulses = st.fixed_dictionaries(
        {},
        optional={
            **{k: value(PULSES_VALID[k], PULSES_INVALID[k], clean) for k in PULSES_VALID},
            "imp_per_kwh": value((1000, 800), (0, 1000.0), clean),
        },
    )
    return st.fixed_dictionaries(
        {"meter": meter},
        optional={
            **top,
            "netting": netting,
            "pulses": pulses,
            "rs485": section(RS485_VALID, RS485_INVALID, clean),
        },
    )


configs = st.one_of(config_strategy(True), config_strategy(False))


def test_validate_accepts_exactly_what_boots_and_polls():
    seen = {"accepted": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cfg=configs)
    def prop(cfg):
        try:
            made, regmap = resolve(cfg)
        except ConfigInvalid as exc:
            seen["refused"] += 1
            assert "\n" not in str(exc) and len(str(exc)) < 400
            _made, regmap, state = boot_file(cfg)
            assert regmap is None and state.startswith("safe: ") and str(exc) in state
            return
        seen["accepted"] += 1
        assert set(made) >= set(cfg)  # nothing given is dropped
        boot_and_poll(made, regmap)
        _made, regmap, state = boot_file(cfg)
        assert state == "ok" and regmap is not None

    prop()
    print("hypothesis config examples: %(accepted)d accepted, %(refused)d refused" % seen)
    # Both outcomes were met, not just one.
    assert seen["accepted"] >= EXAMPLES // 10 and seen["refused"] >= EXAMPLES // 10, seen


def test_the_default_config_of_every_board_is_valid():
    for board in BOARDS:
        made = resolve({"board": board})[0]
        assert made["board"] == board and made["capacity"] == BOARDS[board]["capacity"]
