# The config a board boots with: config.json, else its last good copy, else safe mode's
# defaults, with the reason (netmeter.runner shows it in INFO/STATUS). Boot-only: the runner
# forgets this module (CONFIG_MODULES) once the settings are made.
import json
import sys

LAST_GOOD_SUFFIX = ".good.json"  # config.good.json: the last config an interval closed under
CONFIG_FILE = "config.json"


def load_config(path=CONFIG_FILE):
    """(config, None), or (None, why) when the file cannot be read or is not JSON. A missing
    file is the empty config: every setting at its default."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        if exc.args and exc.args[0] == 2:  # ENOENT
            return {}, None
        return None, "%s: cannot be read (%s)" % (path, exc)
    except Exception as exc:  # noqa: BLE001 - a torn file may not even decode
        return None, "%s: cannot be read (%s)" % (path, exc)
    try:
        return json.loads(text), None
    except Exception as exc:  # noqa: BLE001 - ValueError; RecursionError on deep nesting
        return None, "%s: not JSON (%s)" % (path, exc)


def last_good_path(config_path):
    if config_path.endswith(".json"):
        return config_path[:-5] + LAST_GOOD_SUFFIX
    return config_path + LAST_GOOD_SUFFIX


def boot_settings(config_path=CONFIG_FILE):
    """(settings, regmap, config, state) from config.json or else its last good copy.

    state is "ok", "last_good: <why config.json was not used>" or "safe: <why>"; in safe mode
    settings are the defaults of the board named where one could be read (regmap None)."""
    from netmeter.heap import forget_modules
    from shared.config import ConfigInvalid, resolve

    why = []
    seen = []
    for path in (config_path, last_good_path(config_path)):
        cfg, problem = load_config(path)
        if cfg is not None and (path == config_path or cfg):
            seen.append(cfg)
            try:
                made, regmap = resolve(cfg, forget_modules)  # sections go once used
            except ConfigInvalid as exc:
                problem = "%s: %s" % (path, exc)
            except Exception as exc:  # noqa: BLE001 - nothing a file holds may stop the boot
                problem = "%s: %s: %s" % (path, type(exc).__name__, exc)
            else:
                state = "ok" if not why else "last_good: " + why[0]
                return made, regmap, cfg, state
        if problem is not None:
            why.append(problem)
        elif path != config_path:
            why.append("no last good config")
    board = _salvage(seen, "board") or _platform_board()
    try:
        made = resolve({"board": board} if board else {}, forget_modules)[0]
    except ConfigInvalid:
        made = resolve({}, forget_modules)[0]
    made["device_id"] = _salvage(seen, "device_id")
    return made, None, seen[0] if seen else {}, "safe: " + "; ".join(why)


def _salvage(configs, key):
    """A board name or device id from configs that failed as a whole: the safe mode still
    answers as the board the host knows."""
    for cfg in configs:
        if isinstance(cfg, dict) and isinstance(cfg.get(key), str):
            return cfg[key]
    return None


def _platform_board():
    # With no board name to read, the safe mode still needs the board's hardware.
    impl = sys.implementation.name
    if impl == "circuitpython":
        return "feather_rp2040_cp"
    return {"rp2": "rp2_pico", "esp32": "esp32_s3"}.get(sys.platform)


def note_state(app, hw, state):
    """Say why the board did not boot its config.json: console and error log."""
    app.config_state = state
    if state == "ok":
        return
    from netmeter.errlog import CONFIG_REJECTED

    print("netmeter: " + state)
    app.errlog.log(hw.clock.now_ms(), CONFIG_REJECTED, state)
