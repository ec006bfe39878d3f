# The app's side of the host link: the LinkDevice (netmeter.link) over a running App.
import json

FIRMWARE_VERSION = "0.1.0"
KEY_FILE = "link.key"  # hex, written by the installer (host link-key / mpremote fs cp)
COUNTER_FILE = "link.counter"
CONFIG_FILE = "config.json"


class AppDevice:
    """LinkDevice (see netmeter.link) over a running App and its hardware: its record
    store (records(from_seq), ack(upto_seq), first_seq, next_seq), app.clock_stepped(step_ms),
    app.reset_net(), app.errlog.entries() and app.trace.entries().
    """

    def __init__(self, app, hw, config, root="."):
        self.app = app
        self.hw = hw
        self.config = config
        self.root = root

    def seq_range(self):
        store = self.app.store
        if store is None:  # safe mode before the store was opened: nothing to offer
            return None, None
        return store.first_seq, store.next_seq

    def records(self, from_seq, n):
        if self.app.store is None:
            return
        for rec in self.app.store.records(from_seq, True):
            if n <= 0:
                return
            n -= 1
            yield rec

    def ack(self, upto_seq):
        store = self.app.store
        store.ack(upto_seq)
        app = self.app
        app.acked = max(app.acked, upto_seq)  # on the app: this device goes when the host does
        return store.first_seq

    def info(self):
        from shared.confighash import config_hash

        first, next_seq = self.seq_range()
        clock = self.hw.clock
        return {
            "fw": FIRMWARE_VERSION,
            "board": self.hw.name,
            "device_id": self.app.device_id,
            "config_hash": config_hash(self.config),
            "config_pending": self.app.config_pending,
            "clock_ms": clock.now_ms(),
            "clock_set": bool(clock.is_set),
            "rtc": getattr(clock, "rtc_state", None),  # an external RTC: what boot found
            "first_seq": first,
            "next_seq": next_seq,
            "acked": self.app.acked,
            "link_port": getattr(getattr(self.hw, "console", None), "name", "console"),
            "config_state": self.app.config_state,
        }

    def status(self):
        app = self.app
        poller = app.poller  # None in safe mode: no polling
        result = poller.result if poller is not None else None
        values = result.values if result is not None else {}
        out = {"p": [], "q": [], "s": [], "quadrant": [], "config_state": app.config_state}
        from netmeter.quadrant import quadrant

        for p, q in app.power_names:
            pv, qv = values.get(p), values.get(q)
            out["p"].append(pv)
            out["q"].append(qv)
            out["s"].append(values.get("s_" + p[2:]))
            out["quadrant"].append(quadrant(pv, qv) if pv is not None and qv is not None else None)
        imp, exp, rejected = self.hw.pulses.totals()
        out["pulses"] = [imp, exp]
        out["rejected"] = rejected
        out["comm"] = poller.counters.as_dict() if poller is not None else {}
        out["errors"] = self.log(4)
        return out

    def get_config(self):
        return self.config

    def put_config(self, cfg):
        if isinstance(cfg, dict) and "board" not in cfg and "board" in self.config:
            cfg["board"] = self.config["board"]
        try:
            _validate(cfg)
        except ValueError as exc:
            from netmeter.errlog import CONFIG_REJECTED

            self.app.errlog.log(self.hw.clock.now_ms(), CONFIG_REJECTED, str(exc))
            raise
        from netmeter.atomic import replace_file

        replace_file(self.root + "/" + CONFIG_FILE, json.dumps(cfg).encode())
        # The app is built at boot: the new config applies at the next one.
        self.app.config_pending = True

    def set_time(self, unix_ms):
        clock = self.hw.clock
        step = unix_ms - clock.now_ms()
        clock.set_ms(unix_ms)
        hook = getattr(self.app, "clock_stepped", None)
        if hook is not None:
            hook(step)
        return step

    def reset_net(self):
        hook = getattr(self.app, "reset_net", None)
        if hook is None:
            raise NotImplementedError("this firmware cannot reset the net register yet")
        hook()

    def log(self, n):
        errlog = getattr(self.app, "errlog", None)
        return list(errlog.entries())[-n:] if errlog is not None else []

    def trace(self, n):
        trace = getattr(self.app, "trace", None)
        return list(trace.entries())[-n:] if trace is not None else []


def load_key(path):
    """The device key: hex in a plain file that `host deploy` put there with mpremote."""
    from shared.auth import parse_key

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        return parse_key(data.decode())
    except (ValueError, UnicodeError) as exc:
        print("netmeter: %s is not a usable link key (%s); changes are refused" % (path, exc))
        return None


# Validating a config loads netmeter.heap.CONFIG_MODULES: a PUT_CONFIG is rare, so their
# heap is given back at once, and netmeter.heap's with it.
def _validate(cfg):
    from netmeter import heap
    from shared.config import validate

    try:
        validate(cfg, heap.forget_modules)  # each section's code goes once it is used
    finally:
        validate = None
        heap.forget_modules(heap.CONFIG_MODULES)
        heap.forget_modules(heap.HEAP_MODULES)
