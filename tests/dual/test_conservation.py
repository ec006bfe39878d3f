# Conservation over seeded random event streams, on both runtimes (hypothesis adds CPython).
from conservation import check, random_events
from dualtest import Rng


def test_conservation_over_seeded_random_streams():
    for seed in range(12):
        rng = Rng(seed)
        start = rng.next() * 997 % (1 << 32)
        check(
            random_events(rng, 300),
            start,
            interval_min=(5, 15, 1)[seed % 3],
            bad_power_every=seed % 4 * 7,
        )


def test_conservation_across_a_32_bit_wrap():
    rng = Rng(99)
    check(random_events(rng, 200), start_import=(1 << 32) - 3000, interval_min=5)


def test_conservation_checker_catches_lost_energy():
    # The checker can fail: a stream whose truth disagrees with the records is caught.
    events = [
        ("read", 1000, 0, 0, False, 0, 0, 0.0, 0.0),
        ("read", 1000, 5, 0, False, 1, 0, 0.0, 0.0),
    ]
    report = check(events)
    assert report["expected_import_mwh"] == 5000
    report["expected_import_mwh"] += 1000
    assert report["sums"]["registers"]["a_plus"] != report["expected_import_mwh"]
