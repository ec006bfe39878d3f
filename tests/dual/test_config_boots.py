# Issue 12.1 on both runtimes: resolve(cfg) accepts <=> the board boots it and polls; a config
# it refuses, written straight into config.json, boots safe mode naming the same reason.
from bootcheck import boot_and_poll, boot_file, random_config

from dualtest import RUNTIME, Rng
from shared.config import ConfigInvalid, resolve

EXAMPLES = 1000 if RUNTIME == "cpython" else 500


def test_accepted_configs_boot_and_poll_and_refused_ones_boot_safe_with_the_reason():
    rng = Rng(1201)
    accepted = refused = 0
    for _ in range(EXAMPLES):
        cfg = random_config(rng)
        try:
            made, regmap = resolve(cfg)
        except ConfigInvalid as exc:
            refused += 1
            _made, regmap, state = boot_file(cfg)
            assert regmap is None and state.startswith("safe: "), (cfg, state)
            assert str(exc) in state, (str(exc), state)
            continue
        accepted += 1
        app = boot_and_poll(made, regmap)
        assert app.poller.result.finished_us is not None
        _made, regmap, state = boot_file(cfg)
        assert state == "ok" and regmap is not None, (cfg, state)
    print("config examples: %d accepted, %d refused" % (accepted, refused))
    # Both sides of the rule are exercised, not just one.
    assert accepted >= EXAMPLES // 5 and refused >= EXAMPLES // 5, (accepted, refused)
