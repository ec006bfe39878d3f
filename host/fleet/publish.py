"""Publish what history.db holds: pages of records at QoS 1 over MQTT 5, persistent session.

The per-device watermark (table `published` in history.db: the last seq the broker has
acknowledged) advances only on PUBACK, in the caller's thread, after the records were
stored (they come from history.db). A gateway killed after a PUBACK but before its watermark
commit publishes those pages again when it restarts: the far end's unique keys make that
harmless. While the broker is away nothing new is handed to the client; paho resends what
was in flight when the connection comes back, and the rest follows from the watermark.

Also published (retained): `netmeter/<id>/status` online/offline (the connection's last will
is `offline`), and `netmeter/<id>/state`, the totals of the stored records (Home Assistant's
sensors, host/fleet/discovery.py), which therefore can never run ahead of what is stored.
"""

import collections
import json
import threading
import time
from urllib.parse import urlsplit

from host.fleet import discovery
from host.fleet.payload import encode_page, records_topic, state_topic, status_topic

PAGE = 96  # records per message: a day of 15-minute intervals, ~35 KB of JSON
WINDOW = 32  # messages in flight before waiting for PUBACKs
WATERMARKS = """
CREATE TABLE IF NOT EXISTS published (
    device_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS device_info (
    device_id TEXT PRIMARY KEY,
    board TEXT,
    fw TEXT
);
"""


class PublishError(Exception):
    """An expected failure (bad URL, broker unreachable for the whole wait); one line."""


def broker_address(url):
    """(host, port) of mqtt://HOST[:PORT] (1883 by default)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise PublishError("%r is not an MQTT broker URL: give mqtt://HOST[:PORT]" % url)
    try:
        port = parts.port or 1883
    except ValueError:
        raise PublishError("%r: the port is not a number" % url) from None
    return parts.hostname, port


def totals(db, device_id, upto=None):
    """The state of device_id from stored records (seq <= upto if given): energies summed."""
    sql = (
        "SELECT count(*), coalesce(sum(a_plus), 0), coalesce(sum(a_minus), 0), "
        "coalesce(sum(q1), 0), coalesce(sum(q2), 0), coalesce(sum(q3), 0), coalesce(sum(q4), 0),"
        " max(seq) FROM records WHERE device_id = ?"
    )
    params = [device_id]
    if upto is not None:
        sql += " AND seq <= ?"
        params.append(upto)
    n, a_plus, a_minus, q1, q2, q3, q4, last = db.execute(sql, params).fetchone()
    state = {
        "records": n,
        "import_wh": a_plus / 1000,
        "export_wh": a_minus / 1000,
        "net_wh": (a_plus - a_minus) / 1000,
        "q1_varh": q1 / 1000,
        "q2_varh": q2 / 1000,
        "q3_varh": q3 / 1000,
        "q4_varh": q4 / 1000,
        "last_seq": last,
        "power_w": None,
        "last_interval_end": None,
    }
    if last is not None:
        start, duration, a_plus_last, a_minus_last = db.execute(
            "SELECT start_utc, duration_s, a_plus, a_minus FROM records "
            "WHERE device_id = ? AND seq = ?",
            (device_id, last),
        ).fetchone()
        if duration:
            # mWh over duration_s seconds -> W: mWh * 3.6 / s
            state["power_w"] = round((a_plus_last - a_minus_last) * 3.6 / duration, 3)
        from host.fleet.payload import iso

        state["last_interval_end"] = iso(start + duration)
    return state


class Publisher:
    """A gateway's MQTT side. publish_new(history) hands new pages to the broker; settle()
    waits for their PUBACKs and advances the watermarks; close() says offline."""

    def __init__(self, url, client_id, page=PAGE, window=WINDOW, discovery_prefix="homeassistant"):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.host, self.port = broker_address(url)
        self.client_id = client_id
        self.page = page
        self.window = window
        self.prefix = discovery_prefix
        self.acked = collections.deque()  # mids acknowledged, appended by paho's thread
        self.inflight = {}  # mid -> (device_id, last seq of the page)
        self.order = collections.defaultdict(collections.deque)  # device -> mids in order
        self.sent = {}  # device -> last seq handed to the client
        self.devices = {}  # device -> {"board", "fw"} for discovery
        self.announce = threading.Event()  # HA said online, or we (re)connected
        self.connected = threading.Event()
        self.last_state = {}
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        client.max_inflight_messages_set(window)
        client.max_queued_messages_set(0)
        self._will = None
        self.client = client
        self._props = Properties(PacketTypes.CONNECT)
        self._props.SessionExpiryInterval = 7 * 24 * 3600
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)

    # paho's thread: only flags and queues, never SQLite (its connection is the caller's).
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        client.subscribe("%s/status" % self.prefix, qos=1)
        self.connected.set()
        self.announce.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self.acked.append(mid)

    def _on_message(self, client, userdata, msg):
        if msg.topic == "%s/status" % self.prefix and msg.payload == b"online":
            self.announce.set()

    def start(self, status_devices):
        """Connect (in the background; paho reconnects by itself). The last will marks the
        first of status_devices offline (MQTT has one will per connection; the others are
        marked offline by close())."""
        if status_devices:
            self.client.will_set(status_topic(status_devices[0]), "offline", qos=1, retain=True)
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=self._props)  # fmt: skip
        self.client.loop_start()

    def wait_connected(self, timeout):
        return self.connected.wait(timeout)

    def close(self, offline=True):
        """Disconnect; offline: mark the devices offline first (a gateway stopping; a one-off
        `host sync --publish` leaves them online between its runs)."""
        if offline:
            for device_id in self.devices:
                self.client.publish(status_topic(device_id), "offline", qos=1, retain=True)
            time.sleep(0.2)
        self.client.disconnect()
        self.client.loop_stop()

    # --- the caller's thread ----------------------------------------------------------------

    def note_device(self, db, device_id, board=None, fw=None):
        db.executescript(WATERMARKS)
        if board or fw:
            db.execute(
                "INSERT INTO device_info VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE "
                "SET board = excluded.board, fw = excluded.fw",
                (device_id, board, fw),
            )
        row = db.execute(
            "SELECT board, fw FROM device_info WHERE device_id = ?", (device_id,)
        ).fetchone()
        self.devices[device_id] = {"board": row[0] if row else None, "fw": row[1] if row else None}

    def watermark(self, db, device_id):
        row = db.execute("SELECT seq FROM published WHERE device_id = ?", (device_id,)).fetchone()
        return row[0] if row else None

    def publish_new(self, history):
        """Hand new pages of every device in history to the broker (as many as the window
        allows, only while connected); returns the number of records handed over."""
        db = history.db
        db.executescript(WATERMARKS)
        self._apply_acks(db)
        if not self.connected.is_set():
            return 0
        if self.announce.is_set():
            self.announce.clear()
            self._announce(history)
        handed = 0
        for device_id in history.devices():
            if device_id not in self.devices:
                self.note_device(db, device_id)
            done = self.sent.get(device_id)
            if done is None:
                done = self.watermark(db, device_id)
            anchors = history.anchors(device_id)
            while len(self.inflight) < self.window and self.connected.is_set():
                rows = db.execute(
                    "SELECT seq, raw FROM records WHERE device_id = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (device_id, -1 if done is None else done, self.page),
                ).fetchall()
                if not rows:
                    break
                # A page never crosses a gap: the far end checks each run against its chain.
                run = [rows[0]]
                for row in rows[1:]:
                    if row[0] != run[-1][0] + 1:
                        break
                    run.append(row)
                anchor = None
                first = run[0][0]
                if first in anchors and anchors[first][0] is None:
                    anchor = (first, anchors[first][1])
                payload = encode_page(device_id, [bytes(r[1]) for r in run], anchor)
                info = self.client.publish(records_topic(device_id), payload, qos=1)
                self.inflight[info.mid] = (device_id, run[-1][0])
                self.order[device_id].append(info.mid)
                done = run[-1][0]
                self.sent[device_id] = done
                handed += len(run)
        return handed

    def settle(self, history, timeout):
        """Wait up to timeout s for every page in flight to be acknowledged; advance the
        watermarks and publish the states. True if nothing is left in flight."""
        end = time.monotonic() + timeout
        while self.inflight and time.monotonic() < end:
            self._apply_acks(history.db)
            time.sleep(0.01)
        self._apply_acks(history.db)
        self.publish_states(history)
        return not self.inflight

    def _apply_acks(self, db):
        changed = {}
        while self.acked:
            mid = self.acked.popleft()
            if mid in self.inflight:
                self.inflight[mid] = self.inflight[mid] + (True,)
        for device_id, mids in self.order.items():
            while mids and len(self.inflight.get(mids[0], ())) == 3:
                changed[device_id] = self.inflight.pop(mids.popleft())[1]
        if changed:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO published VALUES (?, ?) ON CONFLICT (device_id) "
                "DO UPDATE SET seq = max(seq, excluded.seq)",
                list(changed.items()),
            )
            db.execute("COMMIT")

    def publish_states(self, history):
        if not self.connected.is_set():
            return
        for device_id in self.devices:
            state = totals(history.db, device_id)
            if state != self.last_state.get(device_id):
                self.client.publish(
                    state_topic(device_id), json.dumps(state, sort_keys=True), qos=1, retain=True
                )
                self.last_state[device_id] = state

    def _announce(self, history):
        for device_id in history.devices():
            if device_id not in self.devices:
                self.note_device(history.db, device_id)
            meta = self.devices[device_id]
            for topic, config in discovery.configs(
                device_id, meta.get("board"), meta.get("fw"), self.prefix
            ):
                self.client.publish(topic, json.dumps(config), qos=1, retain=True)
            self.client.publish(status_topic(device_id), "online", qos=1, retain=True)
        self.last_state.clear()  # publish the states again after an announcement
