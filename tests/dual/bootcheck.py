# "A config the validator accepts always boots", on both runtimes: configs made near every
# rule's edge (each key valid or not, and the cross-field rules: timeouts x retries x reads
# against the poll period, billing against sources, the pulse constant said twice), and a
# boot the way netmeter.runner does it: the settings, the simulated board's build() with a
# meter line that answers every read, the App, one whole poll.
import json
import time

from storetest import fresh_dir

from shared.crc import crc16_modbus

VALID = {
    "poll_period_s": (1, 2, 5, 10, 15, 30, 60),
    "timeout_ms": (10, 50, 100, 200, 400, 1000, 3000),
    "retries": (0, 1, 2, 5),
    "phases": (1, 2, 3),
    "watchdog_ms": (1000, 8000, 60000),
    "checkpoint_s": (1, 60, 3600),
    "capacity": (192, 1000, 35040, None),
    "device_id": ("a", "meter-7", "x" * 32),
}
INVALID = {
    "poll_period_s": (7, 0, 10.0, "15", True, 90),
    "timeout_ms": (9, 10001, 200.0),
    "retries": (-1, 6, 1.0),
    "phases": (0, 4),
    "watchdog_ms": (999, 60001, 8000.0),
    "checkpoint_s": (0, 3601, 60.0),
    "capacity": (191, 1000001, 35040.0),
    "device_id": ("", "a b", 5, "x" * 33),
}
NETTING_VALID = {
    "interval_min": (1, 5, 15, 60),
    "summation": ("vector", "arithmetic"),
    "max_gap_s": (1, 30, 120),
    "crosscheck_percent": (2, 0.5, None, 0),
    "site_limit_w": (1000, 100000),
}
NETTING_INVALID = {
    "interval_min": (7, 15.0),
    "summation": ("both",),
    "max_gap_s": (0, 30.0),
    "crosscheck_percent": (-1, 101),
    "site_limit_w": (0,),
}
PULSES_VALID = {
    "wiring": ("separate", "direction"),
    "edge": ("falling", "rising"),
    "debounce_ms": (0, 10, 20, 29),
    "min_width_ms": (30, 40),
    "export_level": (0, 1),
}
PULSES_INVALID = {
    "wiring": ("quadrature",),
    "edge": ("both",),
    "debounce_ms": (-1, 2.5, 40),
    "min_width_ms": (0, 30.0),
    "export_level": (2, True),
}
RS485_VALID = {
    "baud": (9600, 19200, 115200),
    "parity": ("none", "even", "odd"),
    "stop_bits": (1, 2),
}
RS485_INVALID = {"baud": (299, 1000001, 9600.0), "parity": ("mark",), "stop_bits": (3,)}
SOURCES = (
    ["registers", "power"],
    ["registers"],
    ["power"],
    ["pulses"],
    ["registers", "pulses", "power"],
    ["power", "pulses"],
)


def _pick(rng, values):
    return values[rng.below(len(values))]


def _section(rng, valid, invalid, dirty):
    out = {}
    for key in valid:
        if rng.chance(40):
            continue
        if dirty and key in invalid and rng.chance(12):
            out[key] = _pick(rng, invalid[key])
        else:
            out[key] = _pick(rng, valid[key])
    return out


def random_config(rng):
    """A config near the rules' edges: clean ones (every value in range, only the rules
    between settings can refuse them) and dirty ones (a few values out of range)."""
    dirty = rng.chance(35)
    cfg = _section(rng, VALID, INVALID, dirty)
    if rng.chance(90):
        cfg["board"] = "unix_sim"
    elif dirty:
        cfg["board"] = "toaster"
    cfg["meter"] = _random_meter(rng, dirty)
    netting = _section(rng, NETTING_VALID, NETTING_INVALID, dirty)
    if rng.chance(70):
        netting["sources"] = list(_pick(rng, SOURCES))
    if rng.chance(60):
        # mostly one of the sources; sometimes not, which the billing rule refuses
        among = netting.get("sources", ["registers", "power"])
        netting["billing"] = _pick(rng, among if rng.chance(75) else SOURCES[4])
    pulses = _section(rng, PULSES_VALID, PULSES_INVALID, dirty)
    _pulse_constant(rng, pulses, netting)
    if netting:
        cfg["netting"] = netting
    if pulses:
        cfg["pulses"] = pulses
    rs485 = _section(rng, RS485_VALID, RS485_INVALID, dirty)
    if rs485:
        cfg["rs485"] = rs485
    return cfg


def _random_meter(rng, dirty):
    meter = {"MAP": _pick(rng, ("generic", "sdm630", "sunspec203"))}
    if rng.chance(30):
        meter["MAX_READ"] = _pick(rng, (2, 4, 10, 125) + ((0, 126) if dirty else ()))
    if rng.chance(20):
        meter["MAX_GAP"] = _pick(rng, (0, 5, 125))
    if dirty and rng.chance(5):
        meter["MAP"] = "nosuchmeter"
    return meter


def _pulse_constant(rng, pulses, netting):
    """The pulse constant: said once, twice alike, twice apart, or as Wh per pulse."""
    how = rng.below(6)
    if how == 1:
        pulses["imp_per_kwh"] = 500
    elif how == 2:
        pulses["imp_per_kwh"] = netting["pulse_imp_per_kwh"] = 800
    elif how == 3:
        pulses["imp_per_kwh"], netting["pulse_imp_per_kwh"] = 1000, 2000
    elif how == 4:
        netting["pulse_wh_per_pulse"] = _pick(rng, (2.5, 0.3125, 1, 0.00001, 0))
    elif how == 5:
        netting["pulse_imp_per_kwh"] = _pick(rng, (1000, 1600, 1000.0, 0))


class AnsweringMeter:
    """A meter line that answers every read request with registers of zero at once."""

    def __init__(self, baud):
        self.baud = baud
        self._reply = b""
        self.requests = 0

    def write(self, frame):
        unit, function, count = frame[0], frame[1], (frame[4] << 8) | frame[5]
        body = bytes([unit, function, 2 * count]) + bytes(2 * count)
        crc = crc16_modbus(body)
        self._reply = body + bytes([crc & 0xFF, crc >> 8])
        self.requests += 1

    def read(self):
        data, self._reply = self._reply, b""
        return data


class Ticks:
    def __init__(self):
        self.t = 0

    def ticks_ms(self):
        return self.t


def boot_and_poll(settings, regmap):
    """Boot as the runner does with these settings, run one whole poll; the app."""
    from boards import unix_sim
    from netmeter.app import App

    line = AnsweringMeter(settings["rs485"]["baud"])
    hw = unix_sim.build(
        settings, ticks_ms=Ticks().ticks_ms, rs485=line, fs_root=fresh_dir("boots")
    )
    app = App(hw, settings, regmap)
    start = time.time()
    now_ms = 1764374400000
    while app.step(now_ms):
        assert time.time() - start < 30, "the poll did not end"
    result = app.poller.result
    assert result is not None and result.finished_us is not None
    # Every read was answered at once; only a very short timeout can lapse before the loop
    # comes round to read the answer on a loaded machine.
    for _read, error in result.errors:
        assert type(error).__name__ == "ResponseTimeout", error
        assert settings["timeout_ms"] < 100, (settings["timeout_ms"], error)
    assert line.requests >= len(app.poller.reads)
    assert result.values or result.errors
    return app


def boot_file(cfg):
    """What the runner makes of cfg written straight into config.json: (settings, state)."""
    from netmeter.bootconfig import boot_settings

    root = fresh_dir("bootfile")
    with open(root + "/config.json", "w") as f:
        f.write(json.dumps(cfg))
    made, regmap, _config, state = boot_settings(root + "/config.json")
    return made, regmap, state
