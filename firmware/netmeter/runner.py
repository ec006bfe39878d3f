# Boot: make the settings from config.json (netmeter.bootconfig), build the board's hardware
# and the app, and run the main loop. A setting never stops the board: a config that cannot
# be used gives way to the last one that ran (config.good.json), and with none usable the
# board boots a safe mode (netmeter.safemode: link up, no polling) that says why in
# INFO/STATUS, so `host config push` can fix it.
import gc
import json

from shared.port import sleep_ms

CONFIG_FILE = "config.json"


def run_forever(app, hw, idle_ms=5):
    """Real time: step the app on the board's clock; sleep briefly when nothing is due."""
    while True:
        if not app.step(hw.clock.now_ms()):
            sleep_ms(idle_ms)


def main(config_path=CONFIG_FILE):
    from netmeter import heap  # boot-only here: forgotten below, before the main loop
    from netmeter.bootconfig import boot_settings, last_good_path, note_state

    settings, regmap, config, state = boot_settings(config_path)
    good_path = last_good_path(config_path)
    # What is still held here goes when it is dropped below.
    heap.forget_modules(heap.CONFIG_MODULES)
    import boards

    board = boards.load(settings["board"])
    hw = board.build(settings)
    board = None
    heap.forget_modules(heap.BOARD_BOOT_MODULES)
    app = None
    if regmap is not None:
        try:
            app = start_app(hw, settings, regmap, state)
        except Exception as exc:  # noqa: BLE001 - the board must stay reachable
            state = "safe: app did not start: %s: %s" % (type(exc).__name__, exc)
        regmap = None  # the app keeps the quantities it polls; the rest of the map can go
        heap.forget_modules(heap.APP_BOOT_MODULES)
    if app is None:
        from netmeter.safemode import SafeApp

        app = SafeApp(hw, state, settings["device_id"])
    elif state == "ok":
        keep_when_closed(app, config, good_path)
    note_state(app, hw, state)
    settings = boot_settings = last_good_path = note_state = None
    heap.forget_modules(heap.HEAP_MODULES)
    heap = None
    run(app, hw, config)


def keep_when_closed(app, config, good_path):
    """Once the app has closed its first interval under config, copy it to good_path: the
    config a later boot falls back to. Watches app.step until then, then steps aside.

    Here rather than in netmeter.bootconfig: the watcher lives until that first close, and a
    function of bootconfig's would keep the whole boot-only module in the heap with it."""
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
        # Ctrl-C from mpremote: the REPL gets a clean heap for the transfer to come, and the
        # watchdog is fed through the maintenance window (docs/maintenance.md).
        watchdog, periodic = hw.watchdog, getattr(hw, "periodic", None)
        app = hw = loop = None
        from netmeter.heap import release_firmware

        release_firmware()
        from netmeter.maintenance import enter

        enter(watchdog, periodic)
        raise
    except Exception as exc:  # noqa: BLE001 - the board must stay reachable
        if app.poller is None:  # already in safe mode: nothing left to fall back to
            raise
        from netmeter.safemode import after_crash

        safe = after_crash(app, hw, exc)
        app = loop = None
        gc.collect()
        run(safe, hw, config)
