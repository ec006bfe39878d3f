# The main loop's bookkeeping with fake hardware: flags from the poll, pulses and clock.
from fakeboard import fake_hardware
from storetest import fresh_dir

from dualtest import raises
from netmeter.app import App
from netmeter.poller import PollResult
from shared.config import resolve
from shared.record import COMM_ERROR, PULSES_REJECTED

T0 = 1764374400000


def hardware(pulses=(0, 0, 0), clock_set=True):
    hw = fake_hardware(fresh_dir("app"), take=lambda: pulses)
    hw.clock.is_set = clock_set
    return hw


def result(values, counts=None, failed=False):
    r = PollResult(0)
    r.values = values
    r.counts = counts or {}
    if failed:
        r.errors.append((None, "timeout"))
    return r


POWER = {"p_l1": 100.0, "q_l1": 0.0, "p_l2": 100.0, "q_l2": 0.0, "p_l3": 100.0, "q_l3": 0.0}
CONFIG = {"netting": {"sources": ("power",), "billing": "power", "interval_min": 1}}


def make(hw, config):
    """The app as the runner builds it: from the complete settings and their register map."""
    return App(hw, *resolve(config))


def stored(app):
    """The records the app kept, read back from its store."""
    return list(app.store.records(0))


def test_failed_read_books_nothing_and_flags_comm_error():
    app = make(hardware(), CONFIG)
    for t in range(0, 60001, 10000):
        app.feed(T0 + t, result({}, failed=True) if t == 30000 else result(POWER))
    (rec,) = stored(app)
    assert rec.flags & COMM_ERROR
    assert rec.a_plus == 5000  # 300 W for 60 s, integrated across the failed read


def test_rejected_pulses_flag_the_interval():
    app = make(hardware(pulses=(0, 0, 3)), CONFIG)
    app.feed(T0, result(POWER))
    app.feed(T0 + 60000, result(POWER))
    (rec,) = stored(app)
    assert rec.flags & PULSES_REJECTED


def test_an_unset_clock_closes_no_interval():
    # Its readings are held (tests/dual/test_timekeeping.py): no record in a wrong time base.
    app = make(hardware(clock_set=False), CONFIG)
    for t in range(0, 5 * 60000 + 1, 10000):
        app.feed(T0 + t, result(POWER))
    assert stored(app) == []


def test_a_record_edited_on_the_flash_is_reported_at_the_next_boot():
    hw = hardware()
    app = make(hw, CONFIG)
    for t in range(0, 4 * 60000 + 1, 10000):
        app.feed(T0 + t, result(POWER))
    assert [r.seq for r in app.store.records(0)] == [0, 1, 2, 3]
    # Forge record 2: more import, a fresh CRC, so only the hash chain can tell.
    import os

    from shared.crc import crc32

    segment = hw.fs_root + "/records/" + [n for n in os.listdir(hw.fs_root + "/records")
                                         if n.endswith(".seg")][0]  # fmt: skip
    with open(segment, "rb") as f:
        data = bytearray(f.read())
    at = 2 * 76
    data[at + 20] ^= 0x10
    body = bytes(data[at : at + 72])
    c = crc32(body)
    data[at + 72 : at + 76] = bytes([c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF, c >> 24])
    with open(segment, "wb") as f:
        f.write(data)
    again = make(hw, CONFIG)  # the next boot
    chain = [e for e in again.errlog.entries() if e[1] == "chain"]
    assert chain, again.errlog.entries()
    assert "seq 2" in chain[0][2]  # the forged record is named


def test_a_rejected_config_is_refused_and_logged_and_the_old_one_stays():
    from netmeter.linkdevice import AppDevice

    hw = hardware()
    hw.clock.now_ms = lambda: T0
    app = make(hw, CONFIG)
    device = AppDevice(app, hw, {"board": "unix_sim"}, hw.fs_root)
    exc = raises(ValueError, device.put_config, {"board": "unix_sim", "poll_period_s": 7})
    assert "poll_period_s" in str(exc)
    assert [e for e in app.errlog.entries() if e[1] == "config_reject"]
    import os

    assert "config.json" not in os.listdir(hw.fs_root)  # nothing was written


def test_an_accepted_config_is_written_and_the_validation_code_given_back():
    import os
    import sys

    import shared
    from netmeter.heap import CONFIG_MODULES
    from netmeter.linkdevice import AppDevice

    hw = hardware()
    app = make(hw, CONFIG)
    device = AppDevice(app, hw, {"board": "unix_sim"}, hw.fs_root)
    device.put_config({"poll_period_s": 2, "meter": {"MAP": "generic"}})
    assert app.config_pending and "config.json" in os.listdir(hw.fs_root)
    for name in CONFIG_MODULES.split():
        assert name not in sys.modules, name  # a PUT_CONFIG is rare: its code is not kept
    assert not hasattr(shared, "config") and not hasattr(shared, "mapconfig")


def test_the_boot_only_code_is_forgotten_after_the_app_is_built_and_it_runs_without():
    import sys

    from netmeter import heap

    app = make(hardware(), CONFIG)
    names = heap.APP_BOOT_MODULES.split()
    # The app used its own boot modules (the shared ones may have been loaded and let go by
    # an earlier test already, with netmeter.netting holding what it took from them).
    assert all(name in sys.modules for name in names if name.startswith("netmeter."))
    saved = {name: sys.modules[name] for name in names if name in sys.modules}
    heap.forget_modules(heap.APP_BOOT_MODULES)
    try:
        for name in names:
            package, _, leaf = name.rpartition(".")
            assert name not in sys.modules and not hasattr(sys.modules[package], leaf), name
        assert saved
        for t in range(0, 2 * 60000 + 1, 10000):
            app.feed(T0 + t, result(POWER))
        assert [r.seq for r in stored(app)] == [0, 1]
        assert "netmeter.repair" not in sys.modules  # running never loads it back
    finally:
        sys.modules.update(saved)  # other tests hold these modules' functions
        for name, module in saved.items():
            package, _, leaf = name.rpartition(".")
            setattr(sys.modules[package], leaf, module)


def test_a_link_failure_goes_to_the_error_log():
    # The host unplugged while the board wrote its reply: the write fails; the metering goes
    # on and the error log says what happened (host log shows it).
    from netmeter.linkservice import make_link
    from shared.frame import encode
    from shared.linkproto import INFO

    class Unplugged:
        def read(self, n):
            data, self.pending = self.pending, None
            return data

        def write(self, data):
            raise OSError(5)

    hw = hardware()
    hw.clock.now_ms = lambda: T0 + 5000
    app = make(hw, CONFIG)
    console = Unplugged()
    console.pending = encode(7, INFO)
    service = make_link(app, hw, {}, console=console)
    service.serve()
    assert service.failures == 1
    ((t, code, detail, _, base),) = app.errlog.entries()
    assert (t, code, base) == (T0 + 5000, "link_failed", "utc") and detail.startswith("OSError")
