# No interval is stamped with a wrong time: a board that boots with its clock unset holds its
# readings in the interval open at the cut until the clock is set, then closes that interval
# as one record with exact bounds; nothing is lost (docs/timekeeping.md).
from fakeboard import Fake, fake_hardware
from storetest import fresh_dir

from netmeter.app import App
from netmeter.poller import PollResult
from netmeter.timekeeping import TimeKeeper
from shared.config import resolve
from shared.record import (
    CLOCK_ADJUSTED,
    CLOCK_INVALID,
    COMM_ERROR,
    ESTIMATED,
    PARTIAL,
    POWER_DOWN,
)

T0 = 1764374400000  # 2025-11-29 00:00 UTC
UNSET = 1609459200000  # 2021-01-01 00:00 UTC: an rp2 clock after power-up
MIN = 60000
CONFIG = {
    "poll_period_s": 15,
    "netting": {"sources": ("registers", "pulses"), "billing": "registers", "interval_min": 5},
}


class Board:
    """Fake hardware whose clock can be unset, and whose S0 counter gives what a test puts."""

    def __init__(self, root=None):
        self.pending = [0, 0]
        hw = fake_hardware(root or fresh_dir("timekeeping"), take=self.take)
        self.pulses, self.rs485, self.watchdog = hw.pulses, hw.rs485, hw.watchdog
        self.clock, self.fs_root, self.name = hw.clock, hw.fs_root, hw.name

    def take(self):
        imp, exp = self.pending
        self.pending = [0, 0]
        return (imp, exp, 0)


class Site:
    """A meter whose registers count 1 Wh per 10 s of import and 1 Wh per 30 s of export
    (true time, ms) and an S0 output with one pulse per 15 s; counts since t=T0."""

    @staticmethod
    def registers(true_t):
        return ((true_t - T0) // 10000, (true_t - T0) // 30000)

    @staticmethod
    def pulses(a, b):
        return (b - T0) // 15000 - (a - T0) // 15000


def boot(board):
    return App(board, *resolve(CONFIG))


def poll(app, board, device_t, true_t, last_true_t, failed=False):
    """One poll at true time true_t that the device stamps device_t (its clock's reading)."""
    app.timekeeper.poll_started(board.clock.is_set)
    board.pending[0] += Site.pulses(last_true_t, true_t)
    r = PollResult(0)
    if failed:
        r.errors.append((None, "timeout"))
    else:
        imp, exp = Site.registers(true_t)
        r.counts = {"import_energy": (imp, 32), "export_energy": (exp, 32)}
    app.feed(device_t, r)


def run(app, board, t_from, t_to, offset=0):
    """Polls every 15 s over (t_from, t_to] true time; the device's clock reads t + offset."""
    t = t_from
    while t < t_to:
        poll(app, board, t + 15000 + offset, t + 15000, t)
        t += 15000
    return t


def records(app):
    return list(app.store.records(0))


def mwh(app):
    from shared.regmap import mwh_per_count

    return mwh_per_count(resolve(CONFIG)[1].quantity("import_energy"))[0]


def check_conserved(app, t_first, t_last):
    """Every record lies in true UTC, they tile the timeline, and their energy is the
    registers' delta over it exactly."""
    recs = records(app)
    assert recs[0].start_utc * 1000 == t_first
    for a, b in zip(recs, recs[1:]):
        assert a.start_utc + a.duration_s == b.start_utc, (a, b)
    end = recs[-1].start_utc + recs[-1].duration_s
    assert end * 1000 == t_last
    imp0, exp0 = Site.registers(t_first)
    imp1, exp1 = Site.registers(t_last)
    assert sum(r.a_plus for r in recs) == (imp1 - imp0) * mwh(app)
    assert sum(r.a_minus for r in recs) == (exp1 - exp0) * mwh(app)
    for r in recs:
        assert not r.flags & CLOCK_INVALID
        assert r.start_utc * 1000 >= T0  # nothing in the unset clock's time base
    return recs


def cut_with_clock_unset(board, outage_ms, t_cut):
    """The power goes at t_cut for outage_ms; the board boots with its clock reading UNSET."""
    board.clock.is_set = False
    app = boot(board)
    return app, t_cut + outage_ms


def test_time_set_after_one_interval_closes_one_record_with_exact_bounds():
    board = Board()
    app = boot(board)
    poll(app, board, T0, T0, T0)
    t = run(app, board, T0, T0 + 12 * MIN)  # records 0:00, 0:05; 0:10 open at the cut
    # A 3-hour cut; the board boots at 3:12 with its clock at 2021-01-01.
    app, t_boot = cut_with_clock_unset(board, 3 * 60 * MIN, t)
    offset = UNSET - t_boot
    t = run(app, board, t_boot, t_boot + 6 * MIN, offset)  # 6 min held, crossing 3:15
    assert len(records(app)) == 2  # nothing closed in the unknown time base
    board.clock.is_set = True  # SET_TIME at true 3:18:07
    app.clock_stepped(t + 7000 - (t + 7000 + offset))  # as AppDevice.set_time calls it
    poll(app, board, t + 7000, t + 7000, t)
    t = run(app, board, t + 7000 - 7000, T0 + 3 * 60 * MIN + 40 * MIN)
    recs = check_conserved(app, T0, T0 + 3 * 60 * MIN + 40 * MIN)
    outage = recs[2]
    # [0:10, 3:20): from the interval open at the cut to the boundary after the clock set
    assert outage.start_utc * 1000 == T0 + 10 * MIN
    assert outage.duration_s == (3 * 60 + 10) * 60
    assert outage.flags & POWER_DOWN and outage.flags & CLOCK_ADJUSTED
    assert outage.flags & ESTIMATED  # the registers' span across the outage
    assert [r.duration_s for r in recs[3:]] == [300] * 4
    assert not any(r.flags & (POWER_DOWN | CLOCK_ADJUSTED) for r in recs[3:] + recs[:2])
    # S0: pulses while the board was off are lost; those counted while held are in the
    # outage record, none elsewhere
    held = Site.pulses(t_boot, T0 + 3 * 60 * MIN + 18 * MIN + 7000)
    before_cut = Site.pulses(T0 + 10 * MIN, T0 + 12 * MIN)
    after = Site.pulses(T0 + 3 * 60 * MIN + 18 * MIN + 7000, T0 + 3 * 60 * MIN + 20 * MIN)
    assert outage.pulses_import == before_cut + held + after


def test_time_set_on_a_boundary_closes_the_record_there():
    board = Board()
    app = boot(board)
    poll(app, board, T0, T0, T0)
    t = run(app, board, T0, T0 + 7 * MIN)
    app, t_boot = cut_with_clock_unset(board, 60000, t)  # one minute off
    t = run(app, board, t_boot, T0 + 10 * MIN - 15000, UNSET - t_boot)
    board.clock.is_set = True  # the clock is set before the poll of 0:10:00 begins
    t = run(app, board, t, T0 + 20 * MIN)
    recs = check_conserved(app, T0, T0 + 20 * MIN)
    assert [(r.start_utc * 1000 - T0) // MIN for r in recs] == [0, 5, 10, 15]
    assert recs[1].flags & POWER_DOWN and recs[1].flags & CLOCK_ADJUSTED
    assert not recs[2].flags & (POWER_DOWN | CLOCK_ADJUSTED)


def test_time_known_at_boot_makes_one_outage_record_and_no_clock_flag():
    # An external RTC (or a host that sets the clock before the first poll): the outage is
    # one record to the boundary after the first reading, flagged POWER_DOWN only.
    board = Board()
    app = boot(board)
    poll(app, board, T0, T0, T0)
    t = run(app, board, T0, T0 + 3 * MIN)
    app = boot(board)  # clock still set: the RTC gave the time
    t = run(app, board, t + 3 * 86400000, t + 3 * 86400000 + 12 * MIN)
    recs = check_conserved(app, T0, T0 + 3 * 86400000 + 15 * MIN)
    assert len(recs) == 3
    assert recs[0].duration_s == 3 * 86400 + 5 * 60  # a multi-day record: duration_s is u32
    assert recs[0].flags & POWER_DOWN and not recs[0].flags & CLOCK_ADJUSTED
    assert not recs[1].flags & POWER_DOWN


def test_held_pulses_and_flags_survive_a_second_cut_before_the_clock_is_set():
    board = Board()
    app = boot(board)
    poll(app, board, T0, T0, T0)
    t = run(app, board, T0, T0 + 6 * MIN)
    app, t_boot = cut_with_clock_unset(board, 10 * MIN, t)
    offset = UNSET - t_boot
    t = run(app, board, t_boot, t_boot + 3 * MIN, offset)  # held, checkpointed (60 s)
    poll(app, board, t + 15000 + offset, t + 15000, t, failed=True)  # a COMM_ERROR held
    t += 15000
    ((logged_t, code, _, _, base),) = app.errlog.entries()[-1:]
    # Not a 2021 date: ms since start, which host log shows as seconds after boot.
    assert code and logged_t < 946684800000 and base == "boot"
    t = run(app, board, t, t + 60000, offset)
    held = Site.pulses(t_boot, t)
    app, t_boot2 = cut_with_clock_unset(board, 2 * MIN, t)  # cut again, clock still unset
    t = run(app, board, t_boot2, t_boot2 + 60000, UNSET - t_boot2)
    held += Site.pulses(t_boot2, t)
    board.clock.is_set = True
    t = run(app, board, t, T0 + 40 * MIN)
    recs = check_conserved(app, T0, T0 + 40 * MIN)
    outage = [r for r in recs if r.flags & POWER_DOWN]
    assert len(outage) == 1 and outage[0].flags & COMM_ERROR and outage[0].flags & CLOCK_ADJUSTED
    assert outage[0].start_utc * 1000 == T0 + 5 * MIN
    t_set = t_boot2 + 60000
    end = outage[0].start_utc * 1000 + outage[0].duration_s * 1000
    assert end == -(-t_set // (5 * MIN)) * 5 * MIN
    # every pulse counted while held, in both boots, is in it (none checkpointed lost here:
    # each cut came right after a checkpoint)
    counted_after = Site.pulses(t_set, end)
    before_cut = Site.pulses(T0 + 5 * MIN, T0 + 6 * MIN)
    assert outage[0].pulses_import == before_cut + held + counted_after


def test_a_new_board_without_time_starts_its_series_at_its_first_placed_reading():
    board = Board()
    board.clock.is_set = False
    app = boot(board)
    t = run(app, board, T0 - 30 * MIN, T0 + 2 * MIN + 30000, UNSET - T0)
    assert records(app) == [] and app.timekeeper.dropped_pulses > 0
    board.clock.is_set = True
    t = run(app, board, t, T0 + 15 * MIN)
    recs = records(app)
    assert recs[0].start_utc * 1000 == T0 + 2 * MIN + 45000 and recs[0].flags & PARTIAL
    assert not recs[0].flags & CLOCK_ADJUSTED
    imp0, _ = Site.registers(T0 + 2 * MIN + 45000)
    imp1, _ = Site.registers(T0 + 15 * MIN)
    assert sum(r.a_plus for r in recs) == (imp1 - imp0) * mwh(app)
    # pulses counted before the series began are not booked in it
    assert sum(r.pulses_import for r in recs) == Site.pulses(T0 + 2 * MIN + 30000, T0 + 15 * MIN)


def test_set_time_while_held_steps_nothing_and_a_later_set_does():
    board = Board()
    app = boot(board)
    poll(app, board, T0, T0, T0)
    t = run(app, board, T0, T0 + 2 * MIN)
    app, t_boot = cut_with_clock_unset(board, 0, t)
    run(app, board, t_boot, t_boot + 30000, UNSET - t_boot)
    board.clock.is_set = True
    app.clock_stepped(T0 - UNSET)  # years: the unset clock's reading was no time at all
    assert records(app) == []
    t = run(app, board, t_boot + 30000, T0 + 7 * MIN)
    assert len(records(app)) == 1
    app.clock_stepped(60000)  # a real step of a known clock closes the open interval
    assert len(records(app)) == 2 and records(app)[1].flags & CLOCK_ADJUSTED


def test_timekeeper_places_a_reading_by_the_clock_at_the_poll_start():
    tk = TimeKeeper(False)
    assert not tk.placed and not tk.may_step()
    tk.poll_started(True)
    assert tk.placed and tk.may_step() and not tk.first_placed()
    tk.poll_started(False)
    holder = Fake()
    holder.start = None
    assert tk.hold(holder, 3, 1, 0) is False and tk.dropped_pulses == 4
    tk.poll_started(True)
    assert tk.first_placed() and not tk.first_placed()
