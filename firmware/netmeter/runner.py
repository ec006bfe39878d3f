# Boot: make the settings from config.json, build the board's hardware and the app, and run
# the main loop. A setting never stops the board: a config that cannot be used gives way to
# the last one that ran (config.good.json), and with none usable the board boots a safe mode
# (link up, no polling) that says why in INFO/STATUS, so `host config push` can fix it.
import gc
import json
import sys
import time

# Modules that making the settings loads (the schema and its sections, the meter map's
# builder); forgotten once the settings and the register map are made.
CONFIG_MODULES = (
    "shared.config",
    "shared.configboards",
    "shared.configcheck",
    "shared.confignetting",
    "shared.configpulses",
    "shared.mapconfig",
)
# Modules only a board's build() needs (wiring helpers); forgotten after it.
# A module whose objects live on (DeRs485 on rp2) stays in the heap but costs nothing more.
BOOT_ONLY = ("boards.drivers.rs485", "boards.drivers.irqpins")
# Modules only building the app needs (opening the store, the checkpoint, the netting core's
# builder and its defaults); forgotten after it.
APP_BOOT_ONLY = ("netmeter.recovery", "netmeter.netting", "shared.confignetting")

CONFIG_FILE = "config.json"
LAST_GOOD_SUFFIX = ".good.json"  # config.good.json: the last config an interval closed under


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
    from shared.config import ConfigInvalid, resolve

    why = []
    seen = []
    for path in (config_path, last_good_path(config_path)):
        cfg, problem = load_config(path)
        if cfg is not None and (path == config_path or cfg):
            seen.append(cfg)
            try:
                made, regmap = resolve(cfg)
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
        made = resolve({"board": board} if board else {})[0]
    except ConfigInvalid:
        made = resolve({})[0]
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


def run_forever(app, hw, idle_ms=5):
    """Real time: step the app on the board's clock; sleep briefly when nothing is due."""
    while True:
        if not app.step(hw.clock.now_ms()):
            time.sleep_ms(idle_ms)


def forget_modules(names):
    """Let the GC take back modules no longer needed (their code lives in RAM): out of
    sys.modules and off their package, which an import also binds them to."""
    for name in names:
        sys.modules.pop(name, None)
        package, _, leaf = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and hasattr(parent, leaf):
            delattr(parent, leaf)
    gc.collect()


def main(config_path=CONFIG_FILE):
    settings, regmap, config, state = boot_settings(config_path)
    forget_modules(CONFIG_MODULES)
    import boards

    board = boards.load(settings["board"])
    hw = board.build(settings)
    board = None
    forget_modules(BOOT_ONLY)
    app = None
    if regmap is not None:
        try:
            app = start_app(hw, settings, regmap, state)
        except Exception as exc:  # noqa: BLE001 - the board must stay reachable
            state = "safe: app did not start: %s: %s" % (type(exc).__name__, exc)
        regmap = None  # the app keeps the quantities it polls; the rest of the map can go
        forget_modules(APP_BOOT_ONLY)
    if app is None:
        app = SafeApp(hw, settings, state)
    elif state == "ok":
        keep_when_closed(app, config, last_good_path(config_path))
    if state != "ok":
        from netmeter.errlog import CONFIG_REJECTED

        print("netmeter: " + state)
        app.errlog.log(hw.clock.now_ms(), CONFIG_REJECTED, state)
    run(app, hw, config)


def start_app(hw, settings, regmap, state):
    from netmeter.app import App

    app = App(hw, settings, regmap)
    app.config_state = state
    return app


def run(app, hw, config):
    """The main loop; an exception that escapes it is logged and the board carries on in
    safe mode (link up, no polling) rather than resetting into the same failure."""
    from netmeter.linkservice import make_link

    app.link = make_link(app, hw, config)
    # A board whose time comes from elsewhere (the simulator) brings its own loop.
    loop = getattr(hw, "run", None)
    try:
        if loop is not None:
            loop(app)
        else:
            run_forever(app, hw)
    except KeyboardInterrupt:
        # Ctrl-C from mpremote: hand the REPL a clean heap for the file transfer to come.
        app = hw = loop = None
        release_firmware()
        raise
    except Exception as exc:  # noqa: BLE001 - the board must stay reachable
        if isinstance(app, SafeApp):
            raise
        reason = "main loop stopped: %s: %s" % (type(exc).__name__, exc)
        print("netmeter: " + reason)
        if hasattr(sys, "print_exception"):
            sys.print_exception(exc)
        from netmeter.errlog import CRASHED

        app.errlog.log(hw.clock.now_ms(), CRASHED, reason)
        safe = SafeApp(hw, app.config, "safe: " + reason, app.errlog, app.store, app.device_id)
        app = None
        gc.collect()
        run(safe, hw, config)


def keep_when_closed(app, config, good_path):
    """Once the app has closed its first interval under config, copy it to good_path: the
    config a later boot falls back to. Watches app.step until then, then steps aside."""
    step = app.step
    first = app.store.next_seq

    def watched(now_ms):
        busy = step(now_ms)
        if app.store.next_seq != first:
            del app.step  # back to the class's step: nothing more to watch
            from netmeter.atomic import replace_file

            replace_file(good_path, json.dumps(config).encode())
        return busy

    app.step = watched


class SafeApp:
    """The board with no usable config: no polling, no records made; the link answers INFO,
    STATUS, LOG and PUT_CONFIG, and says why (config_state). The records already stored stay
    untouched for the boot that follows a good config."""

    def __init__(self, hw, settings, state, errlog=None, store=None, device_id=None):
        self.hw = hw
        self.config = settings
        self.config_state = state
        self.config_pending = False
        self.acked = -1
        if errlog is None:
            from netmeter.errlog import ErrorLog

            errlog = ErrorLog(hw.fs_root + "/errors.log")
        self.errlog = errlog
        self.store = store  # None: not opened (which device id it chains under is unknown)
        self.device_id = (
            device_id or settings["device_id"] or getattr(hw, "device_id", None) or hw.name
        )
        self.poller = None
        self.power_names = []
        self.trace = None
        self.link = None

    def step(self, now_ms):
        self.serve_link()
        self.hw.watchdog.feed()
        return False

    def serve_link(self):
        if self.link is not None:
            self.link.serve()


def release_firmware():
    """Forget the firmware's modules so the GC can take their code and state back."""
    for name in list(sys.modules):
        if name == "main" or name.split(".")[0] in ("netmeter", "shared", "boards"):
            sys.modules.pop(name, None)
    gc.collect()
