# Safe mode: the board with no usable config (or after its main loop failed) keeps its link
# up so that `host config push` can fix it; loaded only when needed.


class SafeApp:
    """The board with no usable config: no polling, no records made; the link answers INFO,
    STATUS, LOG and PUT_CONFIG, and says why (config_state). The records already stored stay
    untouched for the boot that follows a good config."""

    def __init__(self, hw, state, device_id=None, errlog=None, store=None):
        self.hw = hw
        self.config_state = state
        self.config_pending = False
        self.acked = -1
        if errlog is None:
            from netmeter.errlog import ErrorLog

            errlog = ErrorLog(hw.fs_root + "/errors.log")
        self.errlog = errlog
        self.store = store  # None: not opened (which device id it chains under is unknown)
        self.device_id = device_id or getattr(hw, "device_id", None) or hw.name
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


def after_crash(app, hw, exc):
    """An exception stopped the main loop: log it and go on as a SafeApp over app's store,
    so the board stays reachable instead of resetting into the same failure."""
    import sys

    from netmeter.errlog import CRASHED

    reason = "main loop stopped: %s: %s" % (type(exc).__name__, exc)
    print("netmeter: " + reason)
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)
    app.errlog.log(hw.clock.now_ms(), CRASHED, reason)
    return SafeApp(hw, "safe: " + reason, app.device_id, app.errlog, app.store)
