"""Conservation of every energy field over hypothesis-generated event streams (CPython)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conservation import check

reads = st.tuples(
    st.just("read"),
    st.one_of(st.integers(0, 5000), st.integers(0, 3 * 3600000)),
    st.integers(0, 80),
    st.integers(0, 80),
    st.booleans(),
    st.integers(0, 3),
    st.integers(0, 3),
    st.floats(-30000, 30000, allow_nan=False),
    st.floats(-30000, 30000, allow_nan=False),
)
others = st.one_of(
    st.tuples(st.just("step"), st.integers(-3600000, 24 * 3600000)),
    st.tuples(st.just("reset"), st.just(0)),
    st.tuples(st.just("netreset"), st.just(0)),
)
streams = st.lists(st.one_of(reads, reads, reads, others), max_size=120)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=streams,
    start_import=st.one_of(
        st.integers(0, (1 << 32) - 1), st.integers((1 << 32) - 5000, (1 << 32) - 1)
    ),
    interval_min=st.sampled_from([1, 5, 10, 15, 30, 60]),
    bad_power_every=st.sampled_from([0, 3, 11]),
)
def test_sum_of_intervals_equals_total_counted(
    events, start_import, interval_min, bad_power_every
):
    check(events, start_import, interval_min, bad_power_every)
