# A register that falls and comes back (stuck at zero, garbled low) against a real reset:
# neither may invent energy. Found over the pty: tests/test_rtu_over_pty.py (stuck export).
from netmeter.netting import make_accumulator
from shared.record import METER_RESET, RECOVERED

T0 = 1700000000000 // 3600000 * 3600000


def feed(readings, interval_min=15):
    """readings: [(seconds after T0, import count, export count)] -> closed records."""
    acc = make_accumulator({"interval_min": interval_min, "sources": ("registers",)})
    recs = []
    for s, imp, exp in readings:
        recs += acc.update(T0 + s * 1000, registers=(imp, exp))
    recs += acc.close_now(T0 + readings[-1][0] * 1000)
    return recs


def totals(recs):
    return sum(r.a_plus for r in recs), sum(r.a_minus for r in recs)


def test_register_stuck_at_zero_books_its_delta_once_when_back():
    # Export reads 0 for a while, then 22: the 8 Wh counted while it was stuck are booked
    # once when it is back, not the 22 Wh it holds (14 of which were booked before).
    recs = feed([(0, 100, 9), (10, 101, 14), (20, 102, 0), (30, 103, 0), (40, 104, 22)])
    assert totals(recs) == (4000, 13000)
    (rec,) = recs
    assert rec.flags & METER_RESET and rec.flags & RECOVERED


def test_large_register_stuck_at_zero_is_recovered_not_rejected():
    # Back from 0 to 5 000 010 is absurd as a rise in 10 s, but it continues the course the
    # register had before the fall.
    recs = feed([(0, 7, 5000000), (10, 7, 5000002), (20, 7, 0), (90, 7, 0), (100, 7, 5000010)])
    assert totals(recs) == (0, 10000)
    assert recs[0].flags & RECOVERED


def test_real_reset_still_books_the_new_counts():
    recs = feed([(0, 1000, 0), (10, 1010, 0), (20, 3, 0), (30, 13, 0), (40, 20, 0)])
    assert totals(recs) == (27000, 0)
    assert recs[0].flags & METER_RESET and not recs[0].flags & RECOVERED


def test_reset_counter_climbing_past_its_old_value_never_books_more_than_it_counted():
    # After a real reset the counter passes its old value: the reading fits both stories,
    # and the smaller booking is taken (here 6 Wh of the 20 Wh step): never phantom energy.
    recs = feed([(0, 14, 0), (10, 0, 0), (20, 5, 0), (30, 10, 0), (40, 30, 0), (50, 31, 0)])
    imp, _ = totals(recs)
    assert imp == (0 + 5 + 5 + 6 + 1) * 1000
    assert imp <= 31 * 1000  # at most what the counter shows since its reset


def test_recovery_is_booked_in_the_interval_where_the_register_comes_back():
    readings = [(s, 0, 10 + s // 10) for s in range(0, 70, 10)]  # 10..16
    readings += [(s, 0, 0) for s in range(70, 171, 10)]  # stuck across a boundary
    readings += [(175, 0, 28), (185, 0, 29)]
    recs = feed(readings, interval_min=1)
    assert [r.a_minus for r in recs] == [6000, 0, 12000, 1000]
    assert recs[1].flags & METER_RESET and recs[2].flags & RECOVERED
