# Issue 12.1 on both runtimes: resolve(cfg) accepts <=> the board boots it and polls; a config
# it refuses, written straight into config.json, boots safe mode naming the same reason.
from bootcheck import boot_and_poll, boot_file, random_config

from dualtest import RUNTIME, Rng
from shared.config import ConfigInvalid, resolve

# The seeded loop is the VM's property test (hypothesis runs on CPython: 400 examples in
# tests/test_config_hypothesis.py); CPython repeats a few hundred of the same draws.
EXAMPLES = 200 if RUNTIME == "cpython" else 1000


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


def _dir_with(files):
    import os

    from storetest import fresh_dir

    root = fresh_dir("bootconfig")
    for name, text in files.items():
        if text is None:
            os.mkdir(root + "/" + name)  # a name that cannot be read as a file
        else:
            with open(root + "/" + name, "w") as f:
                f.write(text)
    return root + "/config.json"


def test_boot_states_name_why_config_json_was_not_used():
    from netmeter.bootconfig import boot_settings

    good = '{"device_id": "b-1", "poll_period_s": 15}'
    # No config.json at all: every setting at its default.
    made, regmap, cfg, state = boot_settings(_dir_with({}))
    assert state == "ok" and cfg == {} and regmap is not None and made["poll_period_s"] == 1
    # Not JSON, unreadable, refused: the last good config, and why.
    for text, why in (
        ('{"poll_period_s": ', "config.json: not JSON"),
        (None, "config.json: cannot be read"),
        ('{"poll_period_s": 15.0}', "poll_period_s = 15.0: allowed"),
    ):
        made, regmap, cfg, state = boot_settings(
            _dir_with({"config.json": text, "config.good.json": good})
        )
        assert state.startswith("last_good: ") and why in state, state
        assert made["device_id"] == "b-1" and made["poll_period_s"] == 15 and regmap is not None
    # Nothing usable: safe mode, as the board and device the broken file still names.
    made, regmap, cfg, state = boot_settings(
        _dir_with({"config.json": '{"board": "unix_sim", "device_id": "b-2", "retries": 9}'})
    )
    assert regmap is None and state.startswith("safe: ") and "config.json: retries = 9" in state
    assert state.endswith("; no last good config"), state
    assert made["device_id"] == "b-2" and made["board"] == "unix_sim"
    made, regmap, cfg, state = boot_settings(
        _dir_with({"config.json": "[1, 2]", "config.good.json": "{nope"})
    )
    assert (
        regmap is None
        and "must be a JSON object" in state
        and "config.good.json: not JSON" in state
    )
