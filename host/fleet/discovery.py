"""Home Assistant MQTT discovery: the retained config messages of one device's sensors.

One config per sensor under <prefix>/sensor/<device_id>/<key>/config, all reading the retained
JSON state on netmeter/<device_id>/state (publish.totals), available while the gateway's
retained status netmeter/<device_id>/status says `online` (its last will says `offline`).
docs/fleet.md shows what Home Assistant makes of them.
"""

from host.fleet.payload import state_topic, status_topic

# key, name, device_class, state_class, unit, state field, icon
SENSORS = (
    ("energy_import", "Energy import", "energy", "total_increasing", "Wh", "import_wh"),
    ("energy_export", "Energy export", "energy", "total_increasing", "Wh", "export_wh"),
    ("energy_net", "Net energy", "energy", "total", "Wh", "net_wh"),
    (
        "reactive_q1",
        "Reactive energy Q1",
        "reactive_energy",
        "total_increasing",
        "varh",
        "q1_varh",
    ),
    (
        "reactive_q2",
        "Reactive energy Q2",
        "reactive_energy",
        "total_increasing",
        "varh",
        "q2_varh",
    ),
    (
        "reactive_q3",
        "Reactive energy Q3",
        "reactive_energy",
        "total_increasing",
        "varh",
        "q3_varh",
    ),
    (
        "reactive_q4",
        "Reactive energy Q4",
        "reactive_energy",
        "total_increasing",
        "varh",
        "q4_varh",
    ),
    ("power", "Last interval average power", "power", "measurement", "W", "power_w"),
)


def configs(device_id, board=None, fw=None, prefix="homeassistant"):
    """[(topic, config dict)] for device_id's sensors."""
    device = {
        "identifiers": ["netmeter_%s" % device_id],
        "name": "netmeter %s" % device_id,
        "manufacturer": "netmeter",
        "model": board or "netmeter",
        "serial_number": device_id,
    }
    if fw:
        device["sw_version"] = fw
    out = []
    for key, name, device_class, state_class, unit, field in SENSORS:
        config = {
            "name": name,
            "unique_id": "netmeter_%s_%s" % (device_id, key),
            "object_id": "netmeter_%s_%s" % (device_id, key),
            "state_topic": state_topic(device_id),
            "value_template": "{{ value_json.%s }}" % field,
            "device_class": device_class,
            "state_class": state_class,
            "unit_of_measurement": unit,
            "availability_topic": status_topic(device_id),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": {"name": "netmeter host"},
        }
        if key == "energy_net":
            config["json_attributes_topic"] = state_topic(device_id)
        out.append(("%s/sensor/%s/%s/config" % (prefix, device_id, key), config))
    return out
