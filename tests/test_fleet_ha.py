"""Home Assistant: the discovery configs against HA's documented sensor rules, announced
retained and again when HA says `online`; and on the simulated board through a power cut
and a reboot mid-day, the published import/export totals never go down and end equal to the
meter's registers (the records are the only source of the totals)."""

import json
import threading
import time

import fleet_services
import paho.mqtt.client as mqtt
from fleet_services import chained_raws, fill_history

from host.fleet.discovery import configs
from host.fleet.gateway import publish_once
from host.fleet.publish import Publisher
from host.history import History

broker = fleet_services.broker  # fixture

# From HA's documentation (developers.home-assistant.io, "Sensor entity": device classes
# and their units; state classes; "MQTT Discovery": the config keys).
HA_UNITS = {
    "energy": {"Wh", "kWh", "MWh", "GWh", "mWh", "MJ", "GJ", "kJ", "cal", "kcal", "Mcal"},
    "reactive_energy": {"varh", "kvarh"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
}
HA_STATE_CLASSES = {
    "energy": {"total", "total_increasing"},
    "reactive_energy": {"total", "total_increasing"},
    "power": {"measurement"},
}
REQUIRED = {"state_topic", "unique_id", "device", "name"}


def test_discovery_configs_follow_home_assistants_sensor_rules():
    seen = {}
    for topic, config in configs("site-7", "rp2_pico", "1.4.0"):
        assert REQUIRED <= set(config), topic
        cls, state_class, unit = (
            config["device_class"],
            config["state_class"],
            config["unit_of_measurement"],
        )
        assert unit in HA_UNITS[cls], (topic, unit)
        assert state_class in HA_STATE_CLASSES[cls], (topic, state_class)
        parts = topic.split("/")
        assert parts[0] == "homeassistant" and parts[1] == "sensor" and parts[-1] == "config"
        assert parts[2] == "site-7" and config["unique_id"].endswith(parts[3])
        assert config["availability_topic"] == "netmeter/site-7/status"
        assert (
            config["device"]["model"] == "rp2_pico" and config["device"]["sw_version"] == "1.4.0"
        )
        seen[config["value_template"]] = (cls, state_class, unit)
    assert seen["{{ value_json.import_wh }}"] == ("energy", "total_increasing", "Wh")
    assert seen["{{ value_json.export_wh }}"] == ("energy", "total_increasing", "Wh")
    assert seen["{{ value_json.net_wh }}"] == ("energy", "total", "Wh")
    assert seen["{{ value_json.power_w }}"] == ("power", "measurement", "W")
    assert {seen["{{ value_json.q%d_varh }}" % q] for q in (1, 2, 3, 4)} == {
        ("reactive_energy", "total_increasing", "varh")
    }
    assert (
        len({c["unique_id"] for _, c in configs("a")} | {c["unique_id"] for _, c in configs("b")})
        == 16
    )


class Listener:
    """A subscriber recording every message on the topics, as Home Assistant would see them."""

    def __init__(self, broker, topics):
        self.messages = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def take(self, prefix):
        with self.lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(check, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_announced_retained_and_again_when_home_assistant_comes_online(broker, tmp_path):
    with History(tmp_path / "h.db") as history:
        fill_history(history, "site-7", chained_raws("site-7", 30))
        pub = Publisher(broker.url, "gw-ha")
        pub.start(history.devices())
        pub.note_device(history.db, "site-7", "rp2_pico", "1.4.0")
        assert publish_once(pub, history, timeout=10) == (30, True)
        late = Listener(broker, ["homeassistant/#", "netmeter/+/status", "netmeter/+/state"])
        assert wait_for(lambda: len(late.take("homeassistant/sensor/")) == 8)
        assert wait_for(lambda: late.take("netmeter/site-7/state"))
        assert all(retain for _, _, retain in late.take(""))  # a late HA still sees it all
        state = json.loads(late.take("netmeter/site-7/state")[-1][1])
        assert state["records"] == 30 and state["last_seq"] == 29
        assert late.take("netmeter/site-7/status")[-1][1] == b"online"
        # HA restarts and says so: the gateway announces again at its next publish.
        ha = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        ha.connect("127.0.0.1", broker.port)
        ha.loop_start()
        ha.publish("homeassistant/status", "online", qos=1).wait_for_publish(5)
        assert wait_for(lambda: pub.announce.is_set())
        publish_once(pub, history, timeout=10)
        assert wait_for(lambda: len(late.take("homeassistant/sensor/")) == 16)
        # The gateway dies without a word: the broker says offline for it (its last will).
        pub.client._sock.close()
        assert wait_for(lambda: late.take("netmeter/site-7/status")[-1][1] == b"offline", 60)
        pub.client.loop_stop()
        ha.loop_stop()
        late.close()


UJ_PER_WH = 3_600_000_000
SIM_CONFIG = {
    "device_id": "sim-ha",
    "poll_period_s": 30,
    "rs485": {"baud": 115200},
    "netting": {"sources": ["registers", "power"], "billing": "registers", "interval_min": 15},
}


def test_totals_through_a_power_cut_and_a_reboot_never_decrease(broker, tmp_path, capsys):
    from host.cli import main
    from host.sim.meter import SimMeter
    from host.sim.run import Simulation
    from host.sim.site import HOUR_MS, MINUTE_MS, SiteConfig
    from shared.record import POWER_DOWN

    listener = Listener(broker, ["netmeter/sim-ha/state"])
    sim = Simulation(tmp_path / "board", SIM_CONFIG, SimMeter(SiteConfig(seed=7, pv_peak_w=9000)),
                     start_ms=5 * HOUR_MS)  # fmt: skip
    db = str(tmp_path / "history.db")
    with sim:
        for hour in range(5, 13):
            sim.run((hour + 1) * HOUR_MS, 30_000)
            if hour == 8:
                sim.power_cut(outage_ms=40 * MINUTE_MS)  # mid-day, PV exporting
            if hour == 11:
                sim.power_cut(0)  # a reboot
            # What an installer's cron job runs: a sync, then one publish of what is new.
            argv = ["sync", "--device", sim.board.device, "--db", db, "--no-ack"]
            assert main(argv + ["--publish", broker.url]) == 0
            out, err = capsys.readouterr()
            assert "published " in out and "Traceback" not in err
        records = sim.records()
        # The gateway service, one cycle: the board is up to date, the other port is gone.
        gone = str(tmp_path / "ttyGONE")
        argv = ["gateway", "--device", sim.board.device, "--device", gone, "--db", db]
        assert main(argv + ["--mqtt", broker.url, "--cycles", "1", "--period", "2"]) == 0
        out, err = capsys.readouterr()
        assert "sim-ha: up to date, nothing new" in out and "Traceback" not in err
        assert "%s: " % gone in out and "trying again next cycle" in out
    assert wait_for(lambda: json.loads(listener.take("")[-1][1])["last_seq"] == records[-1].seq)
    listener.close()
    states = [json.loads(payload) for _, payload, _ in listener.take("")]
    assert len(states) >= 8
    for key in ("import_wh", "export_wh"):
        series = [s[key] for s in states]
        assert series == sorted(series), key  # never down
    t0, _ = sim.meter_time(records[0])
    _, t1 = sim.meter_time(records[-1])

    def registers(t):
        truth = sim.meter.truth_at(t).vector
        return truth.a_plus // UJ_PER_WH, truth.a_minus // UJ_PER_WH

    (imp0, exp0), (imp1, exp1) = registers(t0), registers(t1)
    final = states[-1]
    assert (final["import_wh"], final["export_wh"]) == (imp1 - imp0, exp1 - exp0)
    assert final["export_wh"] > 0 and final["import_wh"] > 0
    assert sum(1 for r in records if r.flags & POWER_DOWN) >= 2  # the cut and the reboot
