"""`host gateway`: sync each board on a period, then publish what history.db holds.

One cycle: for each --device port, `host sync` (records stored and committed, then ACKed to
the board; a board that is unplugged or silent is reported in one line and tried again next
cycle), then Publisher.publish_new() and settle(): the watermark advances on PUBACK only.
Nothing here holds records in memory across cycles: the gateway can be killed at any point
and started again, and resumes from history.db (docs/fleet.md has the systemd unit).
"""

import socket
import time

from host.fleet.publish import Publisher


def sync_board(port, history, key_loader, timeout=2.0):
    """Sync one board: (device_id, board, fw, summary lines). Raises the link's errors.
    With the board's link key the clock is set and the records ACKed; without it they are
    stored and stay on the board too (the summary says so)."""
    from host.link import Link
    from host.sync import sync

    with Link.open(port, timeout=timeout) as link:
        info = link.info()
        link.key = key_loader(info.get("device_id") or "?")
        result = sync(link, history, set_time=link.key is not None)
    lines = result.summary()
    if result.ack_skipped:
        lines.append("warning: %s" % result.ack_skipped)
    return result.device_id, info.get("board"), info.get("fw"), lines


def publish_once(publisher, history, timeout=30.0):
    """Publish everything new and wait for its PUBACKs: (records handed, all acknowledged)."""
    handed = total = 0
    end = time.monotonic() + timeout
    while True:
        if not publisher.wait_connected(max(0.0, end - time.monotonic())):
            return total, False
        idle = not publisher.inflight  # nothing in flight: a window of 0 means all is out
        handed = publisher.publish_new(history)
        total += handed
        done = publisher.settle(history, max(0.0, end - time.monotonic()))
        if (idle and not handed and done) or time.monotonic() >= end:
            return total, done


class Gateway:
    def __init__(self, ports, history, mqtt_url, key_loader, period=60.0, say=print,
                 client_id=None):  # fmt: skip
        self.ports = list(ports)
        self.history = history
        self.key_loader = key_loader
        self.period = period
        self.say = say
        self.publisher = Publisher(mqtt_url, client_id or "netmeter-gw-%s" % socket.gethostname())
        self._stop = False

    def stop(self):
        self._stop = True

    def cycle(self):
        from host.errors import describe, expected_errors

        errors = expected_errors()
        for port in self.ports:
            try:
                device_id, board, fw, lines = sync_board(port, self.history, self.key_loader)
            except errors as exc:
                self.say("%s: %s; trying again next cycle" % (port, describe(exc, None)))
                continue
            self.publisher.note_device(self.history.db, device_id, board, fw)
            for line in lines:
                self.say(line)
        handed, done = publish_once(self.publisher, self.history, timeout=self.period / 2)
        if handed:
            self.say("published %d records%s" % (handed, "" if done else " (PUBACKs pending)"))
        elif not self.publisher.connected.is_set():
            self.say("broker %s:%d not reachable; records stay in %s"
                     % (self.publisher.host, self.publisher.port, self.history.path))  # fmt: skip

    def run(self, cycles=None):
        self.publisher.start(self.history.devices())
        self.publisher.wait_connected(5.0)
        n = 0
        try:
            while not self._stop and (cycles is None or n < cycles):
                started = time.monotonic()
                self.cycle()
                n += 1
                last = cycles is not None and n >= cycles
                while not (self._stop or last) and time.monotonic() - started < self.period:
                    time.sleep(0.2)
        finally:
            self.publisher.close()
