# Boot: read config.json, build the board's hardware and the app, and run the main loop.
import gc
import json
import sys
import time

# Modules only a board's build() needs (config validation, wiring helpers); forgotten after it.
# A module whose objects live on (DeRs485 on rp2) stays in the heap but costs nothing more.
BOOT_ONLY = ("netmeter.pulseconfig", "boards.drivers.rs485", "boards.drivers.irqpins")
# Modules only building the app needs (opening the store, the checkpoint, the netting core's
# builder); forgotten after it.
APP_BOOT_ONLY = ("netmeter.recovery", "netmeter.netting")


def load_config(path="config.json"):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return {}


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


def build_regmap(config):
    """Build the meter's register map first, then drop the boot-only code that built it:
    the peak heap is then the larger of the two phases, not their sum."""
    from shared.mapconfig import build_map

    regmap = build_map(config.get("meter", {"MAP": "generic"}))
    del build_map
    forget_modules(("shared.mapconfig",))
    return regmap


def main(config_path="config.json"):
    config = load_config(config_path)
    regmap = build_regmap(config)
    import boards
    from netmeter.app import App

    board = boards.load(config.get("board", "unix_sim"))
    hw = board.build(config)
    board = None
    forget_modules(BOOT_ONLY)
    app = App(hw, config, regmap)
    regmap = None  # the app keeps the quantities it polls; the rest of the map can go
    forget_modules(APP_BOOT_ONLY)
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
        # Ctrl-C from mpremote: the REPL gets a clean heap for the transfer to come, and the
        # watchdog is fed through the maintenance window (docs/maintenance.md).
        watchdog, periodic = hw.watchdog, getattr(hw, "periodic", None)
        app = hw = loop = None
        release_firmware()
        from netmeter.maintenance import enter

        enter(watchdog, periodic)
        raise


def release_firmware():
    """Forget the firmware's modules so the GC can take their code and state back."""
    for name in list(sys.modules):
        if name == "main" or name.split(".")[0] in ("netmeter", "shared", "boards"):
            sys.modules.pop(name, None)
    gc.collect()
