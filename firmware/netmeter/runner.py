# Boot: make the settings from config.json (netmeter.bootconfig), build the board's hardware
# and the app, and run the main loop. A setting never stops the board: a config that cannot
# be used gives way to the last one that ran (config.good.json), and with none usable the
# board boots a safe mode (netmeter.safemode: link up, no polling) that says why in
# INFO/STATUS, so `host config push` can fix it.
import gc
import sys

from shared.port import sleep_ms

# Modules that making the settings loads (the schema and its sections, the meter map's
# builder); forgotten once the settings and the register map are made.
CONFIG_MODULES = (
    "netmeter.bootconfig",
    "shared.config",
    "shared.configboards",
    "shared.configcheck",
    "shared.confignetting",
    "shared.configpulses",
    "shared.configrtc",
    "shared.mapconfig",
)
# Modules only a board's build() needs (wiring helpers, the S0 words its values came from);
# forgotten after it. A module whose objects live on (DeRs485 on rp2) stays in the heap but
# costs nothing more.
BOOT_ONLY = ("boards.drivers.rs485", "boards.drivers.irqpins", "shared.s0")
# Modules only building the app needs (opening the store, the checkpoint, the netting core's
# builder and its defaults); forgotten after it.
APP_BOOT_ONLY = (
    "netmeter.recovery",
    "netmeter.netting",
    "shared.config",
    "shared.configcheck",
)

CONFIG_FILE = "config.json"


def run_forever(app, hw, idle_ms=5):
    """Real time: step the app on the board's clock; sleep briefly when nothing is due."""
    while True:
        if not app.step(hw.clock.now_ms()):
            sleep_ms(idle_ms)


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
    from netmeter.bootconfig import boot_settings, keep_when_closed, last_good_path, note_state

    settings, regmap, config, state = boot_settings(config_path)
    good_path = last_good_path(config_path)
    forget_modules(CONFIG_MODULES)  # what is still held here goes when it is dropped below
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
        from netmeter.safemode import SafeApp

        app = SafeApp(hw, state, settings["device_id"])
    elif state == "ok":
        keep_when_closed(app, config, good_path)
    note_state(app, hw, state)
    settings = boot_settings = keep_when_closed = last_good_path = note_state = None
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
        if app.poller is None:  # already in safe mode: nothing left to fall back to
            raise
        from netmeter.safemode import after_crash

        safe = after_crash(app, hw, exc)
        app = loop = None
        gc.collect()
        run(safe, hw, config)


def release_firmware():
    """Forget the firmware's modules so the GC can take their code and state back."""
    for name in list(sys.modules):
        if name == "main" or name.split(".")[0] in ("netmeter", "shared", "boards"):
            sys.modules.pop(name, None)
    gc.collect()
