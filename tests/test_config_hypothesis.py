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


def value(valid, invalid=()):
    """Mostly a value from the table, sometimes an edge value, now and then anything."""
    parts = [st.sampled_from(valid)] * 6
    if invalid:
        parts.append(st.sampled_from(invalid))
    return st.one_of(*parts, ODD)


def section(valid, invalid):
    return st.fixed_dictionaries(
        {}, optional={k: value(valid[k], invalid.get(k, ())) for k in valid}
    )


TOP = {
    "poll_period_s": value((1, 2, 5, 10, 15, 30, 60), (7, 10.0)),
    "timeout_ms": value((10, 50, 100, 200, 400, 1000, 3000), (9, 200.0)),
    "retries": value((0, 1, 2, 5), (6, 1.0)),
    "phases": value((1, 2, 3), (0, 4)),
    "watchdog_ms": value((1000, 8000, 60000), (999, 60001)),
    "checkpoint_s": value((1, 60, 3600), (0, 60.0)),
    "capacity": value((192, 1000, 35040), (191, 1000001)),
    "device_id": value(("a", "meter-7"), ("a b", "")),
    "board": value(("unix_sim",), ("toaster",)),
}
meter = st.fixed_dictionaries(
    {"MAP": st.sampled_from(("generic", "sdm630", "sunspec203"))},
    optional={
        "MAX_READ": st.integers(0, 130),
        "MAX_GAP": st.integers(0, 130),
        "UNIT": st.integers(0, 250),
    },
)
netting = st.fixed_dictionaries(
    {},
    optional={
        **{k: value(NETTING_VALID[k], NETTING_INVALID[k]) for k in NETTING_VALID},
        "sources": st.sampled_from(SOURCES + (["wind"], [], ["power", "power"])),
        "billing": st.sampled_from(("registers", "power", "pulses", "wind")),
        "pulse_imp_per_kwh": value((1000, 800, 2000), (0, 1000.0)),
        "pulse_wh_per_pulse": value((2.5, 0.3125, 1), (0, 0.00001)),
    },
)
pulses = st.fixed_dictionaries(
    {},
    optional={
        **{k: value(PULSES_VALID[k], PULSES_INVALID[k]) for k in PULSES_VALID},
        "imp_per_kwh": value((1000, 800), (0, 1000.0)),
    },
)
configs = st.fixed_dictionaries(
    {"meter": meter},
    optional={
        **TOP,
        "netting": netting,
        "pulses": pulses,
        "rs485": section(RS485_VALID, RS485_INVALID),
    },
)


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
