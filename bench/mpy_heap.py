# The firmware's live heap through its phases, in whichever MicroPython VM runs this: the
# unix port (64-bit) or the webassembly port (32-bit, as a board's). bench/bench_heap.py runs
# it in both on the same bytecode and prints the figures side by side.
#
# The phases are the runner's (firmware/netmeter/runner.py) on an rp2 board: the register map
# built and its builder forgotten, the board's runtime modules loaded, the app built from
# its store, boot-only code forgotten; then a day of readings fed to the app (15-minute
# intervals closed and stored); then a host on the link: INFO, STATUS, every record pulled,
# LOG, TRACE, GET_CONFIG and a signed PUT_CONFIG, as `host sync` and `host config push` do.
# The hardware is a stand-in (no UART or pins here), and the viper S0 handler is left out:
# native code cannot load in the webassembly VM (bench_pulses.py measures it).
# setup()'s board names whose runtime modules stay loaded: rp2_pico (MicroPython) or
# feather_rp2040_cp (CircuitPython: countio pulses, busio UART, the usb_cdc data port).
# CircuitPython's unix port has none of a board's hardware modules (board, busio, countio,
# digitalio, microcontroller, rtc, storage, usb_cdc, watchdog): build() is not run, as on
# MicroPython, and shared.port.fs_writable finds no storage (a running-mode board's answer).
#
# Each step is its own call from the runner (PLAN in bench_heap.py), with note() in a call of
# its own after it: the webassembly port's GC frees nothing while a call is running (it
# cannot scan the wasm stack), only between calls.
import gc
import os

T0 = 1764374400000
KEY = bytes(range(32))
S = {"peaks": {}}  # the run's state, kept between the runner's calls
# What stays loaded on each board after its build() (the runner forgets BOARD_BOOT_MODULES).
BOARD_MODULES = {
    "rp2_pico": "boards.drivers.machine_board boards.rp2_pico",
    "feather_rp2040_cp": "boards.drivers.countio_pulses boards.drivers.usbcdc"
    " boards.feather_rp2040_cp",
}


def live():
    gc.collect()
    return gc.mem_alloc()


def note(phase):
    """The live heap now, above the base taken before boot, as a candidate peak of phase."""
    used = live() - S["base"]
    S["peaks"][phase] = max(S["peaks"].get(phase, 0), used)


class Stand:
    pass


def hardware(root, now, board):
    hw = Stand()
    hw.name = board
    hw.fs_root = root
    hw.pulses = Stand()
    hw.pulses.take = lambda: (3, 0, 0)
    hw.pulses.totals = lambda: (0, 0, 0)
    hw.rs485 = Stand()
    hw.rs485.baud = 9600
    hw.watchdog = Stand()
    hw.watchdog.feed = lambda: None
    hw.clock = Stand()
    hw.clock.is_set = True
    hw.clock.now_ms = lambda: now[0]
    return hw


class Console:
    def __init__(self):
        self.incoming = []
        self.out = b""

    def read(self, n):
        return self.incoming.pop(0) if self.incoming else None

    def write(self, data):
        self.out += data


def board_time_and_hashlib():
    """On CircuitPython's unix port, whose time and hashlib are MicroPython's (ticks_ms,
    sleep_ms, hashlib.sha256), the names a CircuitPython board has instead, so shared.port
    takes the board's path: time.monotonic_ns and sleep, hashlib.new only."""
    import hashlib
    import sys
    import time

    board_time = Stand()
    board_time.sleep = time.sleep
    board_time.monotonic_ns = time.time_ns
    board_time.time = time.time
    board_time.localtime = time.localtime
    board_hashlib = Stand()
    board_hashlib.new = lambda name, data=b"": getattr(hashlib, name)(data)
    sys.modules["time"] = board_time
    sys.modules["hashlib"] = board_hashlib


def setup(root, board="rp2_pico"):
    import sys

    if sys.implementation.name == "circuitpython":
        board_time_and_hashlib()
    try:
        os.mkdir(root)
    except OSError:
        pass
    with open(root + "/link.key", "w") as f:
        f.write(KEY.hex())
    S["root"] = root
    S["board"] = board
    S["now"] = [T0]


def base():
    S["base"] = live()


def boot():
    """netmeter.runner.main's boot, step by step, on the stand-in hardware."""
    import json

    from netmeter import heap, runner  # the runner stays loaded: main() runs from it

    config = {"device_id": "heap-1", "poll_period_s": 15, "meter": {"MAP": "generic"}}
    config["netting"] = {"sources": ["registers", "power"], "billing": "registers"}
    config["board"] = S["board"]
    path = S["root"] + "/config.json"
    with open(path, "w") as f:
        f.write(json.dumps(config))
    config = None
    from netmeter.bootconfig import boot_settings, last_good_path, note_state

    settings, regmap, config, state = boot_settings(path)
    if state != "ok":
        raise RuntimeError(state)
    good_path = last_good_path(path)
    heap.forget_modules(heap.CONFIG_MODULES)
    import boards  # noqa: F401 - what stays loaded on the board
    import boards.drivers.clock  # noqa: F401
    import boards.drivers.watchdog  # noqa: F401
    import netmeter.pulses  # noqa: F401 - the board's pulse driver needs it

    for name in BOARD_MODULES[S["board"]].split():
        __import__(name)

    heap.forget_modules(heap.BOARD_BOOT_MODULES)
    hw = hardware(S["root"], S["now"], S["board"])
    app = runner.start_app(hw, settings, regmap, state)
    regmap = None
    heap.forget_modules(heap.APP_BOOT_MODULES)
    runner.keep_when_closed(app, config, good_path)
    note_state(app, hw, state)
    settings = boot_settings = last_good_path = note_state = None
    heap.forget_modules(heap.HEAP_MODULES)
    heap = None
    from netmeter.linkservice import make_link

    S["console"] = Console()
    app.link = make_link(app, hw, config, S["root"], S["console"])
    S["app"] = app
    S["config"] = config


def feed_hour(hour):
    """An hour of 15 s readings of a steady 3 kW import."""
    from netmeter.poller import PollResult

    app, now = S["app"], S["now"]
    for i in range(240):
        now[0] = T0 + (hour * 240 + i) * 15000
        r = PollResult(now[0])
        r.values = {"p_l1": 1000.0, "q_l1": 100.0, "p_l2": 1000.0, "q_l2": 100.0}
        r.values.update({"p_l3": 1000.0, "q_l3": 100.0})
        r.values.update({"import_energy": (now[0] - T0) // 1200 / 1000.0, "export_energy": 0.0})
        app.feed(now[0], r)


def ask(request):
    """One batch of frames from the host, served as the main loop serves it."""
    from shared import linkproto as lp
    from shared.auth import signed_body
    from shared.frame import encode

    app, console = S["app"], S["console"]
    console.out = b""
    if request == "pull":  # every record, four pipelined pages a batch, as host sync
        seq = 0
        while seq < app.store.next_seq:
            starts = [seq + k * lp.MAX_PAGE for k in range(4)]
            frames = [encode(10 + k, lp.PULL, lp.pull_args(s, lp.MAX_PAGE)) for k, s in
                      enumerate(starts)]  # fmt: skip
            console.incoming.append(b"".join(frames))
            app.link.serve()
            seq += 4 * lp.MAX_PAGE
        return
    if request == "put_config":
        import json

        body = json.dumps(dict(S["config"], poll_period_s=30)).encode()
        frame = encode(6, lp.PUT_CONFIG, signed_body(KEY, 6, lp.PUT_CONFIG, 1, body))
    else:
        code = {"info": lp.INFO, "status": lp.STATUS, "log": lp.LOG, "trace": lp.TRACE}
        code["get_config"] = lp.GET_CONFIG
        frame = encode(1, code[request])
    console.incoming.append(frame)
    app.link.serve()
    from shared.frame import Decoder

    reply = Decoder().feed(console.out)[-1]
    if reply.code & 0x7F != lp.OK:
        raise RuntimeError("%s refused: %s" % (request, reply.body))


def validating(hold):
    """PUT_CONFIG's moment of most heap, which a note() after it cannot see (the device then
    forgets the validator at once): beside the link server, the validator's modules that are
    loaded together at most, a config validated. The device's validate(cfg,
    heap.forget_modules) (netmeter.linkdevice) gives each section back once used: its core
    and its largest section, the meter map's builder, are what is loaded at once. The maps
    and settings the call builds and drops are not counted (nor were they before sections).
    hold=False lets them go as the device does."""
    from netmeter.heap import CONFIG_MODULES, forget_modules

    if hold:
        from shared.config import validate

        validate(dict(S["config"]), forget_modules)
        from shared.mapconfig import build_map

        S["validator"] = (validate, build_map)
    else:
        S["validator"] = None
        forget_modules(CONFIG_MODULES)


def report():
    for phase in ("boot", "running", "link"):
        print("peak %s %d" % (phase, S["peaks"][phase]))
    print("records %d" % S["app"].store.next_seq)
