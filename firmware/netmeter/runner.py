# Boot: read config.json, build the board's hardware and the app, and run the main loop.
import json
import time

from netmeter import heap


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


def build_regmap(config):
    """Build the meter's register map first, then drop the boot-only code that built it:
    the peak heap is then the larger of the two phases, not their sum."""
    from shared.mapconfig import build_map

    regmap = build_map(config.get("meter", {"MAP": "generic"}))
    del build_map
    heap.forget_modules(heap.MAP_BOOT_MODULES)
    return regmap


def main(config_path="config.json"):
    config = load_config(config_path)
    regmap = build_regmap(config)
    import boards
    from netmeter.app import App

    board = boards.load(config.get("board", "unix_sim"))
    hw = board.build(config)
    board = None
    heap.forget_modules(heap.BOARD_BOOT_MODULES)
    app = App(hw, config, regmap)
    regmap = None  # the app keeps the quantities it polls; the rest of the map can go
    heap.forget_modules(heap.APP_BOOT_MODULES)
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
        heap.release_firmware()
        raise
