# The accumulator's checkpoint: a restore after a power cut loses no register energy.
import json

from netmeter.netting import make_accumulator
from shared.record import ESTIMATED, POWER_DOWN

T0 = 1764374400000
CONFIG = {"interval_min": 5, "sources": ("registers", "power", "pulses"), "billing": "registers"}


def test_restore_after_a_cut_recovers_register_energy_and_flags_power_down():
    acc = make_accumulator(CONFIG)
    records = []
    for i in range(0, 121):  # 10 minutes at 5 s
        t = T0 + i * 5000
        records += acc.update(t, [(1200.0, 100.0)], (i * 2, i), (1, 0))
    saved = json.dumps(acc.state())  # what the checkpoint file holds
    # Power cut: 22 minutes pass; the meter counts on (1 Wh/5 s import, 0.5 Wh/5 s export).
    again = make_accumulator(CONFIG)
    again.restore(json.loads(saved))
    t = T0 + 32 * 60000
    k = 32 * 12
    records += again.update(t, [(1200.0, 100.0)], (k * 2, k), (0, 0))
    records += again.update(t + 180000, [(1200.0, 100.0)], (k * 2 + 72, k + 36), (0, 0))
    records += again.close_now(t + 180000)
    assert sum(r.a_plus for r in records) == (k * 2 + 72) * 1000  # every Wh, none twice
    assert sum(r.a_minus for r in records) == (k + 36) * 1000
    assert [r.seq for r in records] == list(range(len(records)))
    down = [r for r in records if r.flags & POWER_DOWN]
    # ONE record from the interval open at the cut (10:00) to the boundary after the first
    # reading (32:00): its bounds are exact, the split of the outage inside them is unknown
    assert [(r.start_utc % 3600 // 60, r.duration_s // 60) for r in down] == [(10, 25)]
    assert all(r.flags & ESTIMATED for r in down)
    assert not any(r.flags & POWER_DOWN for r in records[:2])


def test_state_is_plain_json():
    acc = make_accumulator(CONFIG)
    acc.update(T0, [(1.0, 1.0)], (0, 0), (0, 0))
    acc.update(T0 + 1000, [(1.0, 1.0)], (1, 0), (1, 0))
    state = json.loads(json.dumps(acc.state()))
    other = make_accumulator(CONFIG)
    other.restore(state, power_down=False)
    assert json.loads(json.dumps(other.state())) == state
