"""Every setting the firmware reads is in the schema (shared/config.py and its sections), and
every setting of the schema is in docs/config.md with its range and default (issue 13.5).

The firmware's reads are found by parsing firmware/netmeter and boards with ast: a
subscript or .get() with a string key on a name that holds settings (cfg, settings, ...),
followed through nested subscripts (settings["rs485"]["baud"])."""

import ast
import re
from pathlib import Path

from shared.config import DEFAULTS, NETTING_DEFAULTS, RS485_DEFAULTS
from shared.configboards import BOARDS
from shared.configrtc import KEYS as RTC_KEYS
from shared.s0 import PULSE_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "firmware" / "netmeter").glob("*.py")) + sorted(
    (ROOT / "boards").rglob("*.py")
)
SECTIONS = {
    "": set(DEFAULTS) | {"polled"},  # polled: the quantities a poll reads (made, not set)
    "netting": set(NETTING_DEFAULTS),
    "pulses": set(PULSE_DEFAULTS),
    "rs485": set(RS485_DEFAULTS),
    "rtc": set(RTC_KEYS),
}
# Names the firmware gives the settings or one of their sections.
HOLDERS = {
    "settings": "",
    "made": "",
    "pulse_cfg": "pulses",
    "rs485_cfg": "rs485",
    "line": "rs485",
    "netting": "netting",
}
# cfg is the settings in app.py, a section elsewhere.
CFG = {"app.py": "", "netting.py": "netting", "pulsecounter.py": "pulses", "linkdevice.py": "",
       "i2crtc.py": "rtc"}  # fmt: skip
# What netmeter.netting's builder takes beside the settings: made from the register map.
DERIVED = {"netting": {"register_mwh_per_count", "register_wrap_bits"}}


def _key(node):
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.value, node.slice.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        return node.func.value, node.args[0].value
    return None, None


def _path(node, filename):
    """(section, [keys]) when node reads settings, else None."""
    keys = []
    while True:
        target, key = _key(node)
        if target is None or not isinstance(key, str):
            break
        keys.insert(0, key)
        node = target
    if not keys:
        return None
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    if name in ("cfg", "config"):
        section = CFG.get(filename)
    else:
        section = HOLDERS.get(name)
    if section is None:
        return None
    return section, keys


def firmware_reads():
    reads = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        inner = set()
        for node in ast.walk(tree):
            if id(node) in inner:
                continue
            found = _path(node, path.name)
            if found is None:
                continue
            # the outer subscript of a chain covers the inner ones
            child = node
            while True:
                target, _ = _key(child)
                if target is None:
                    break
                inner.add(id(target))
                child = target
            reads.append((path.relative_to(ROOT), found[0], found[1]))
    return reads


def test_every_setting_the_firmware_reads_is_in_the_schema():
    reads = firmware_reads()
    seen = {(section, keys[0]) for _, section, keys in reads}
    # The walk finds what it should (a walk that finds nothing proves nothing).
    expected = [("", "checkpoint_s"), ("", "capacity"), ("", "watchdog_ms")]
    expected += [("pulses", "debounce_ms"), ("rs485", "stop_bits"), ("netting", "billing")]
    for read in expected:
        assert read in seen, read
    unknown = []
    for path, section, keys in reads:
        known = SECTIONS[section] | DERIVED.get(section, set())
        if keys[0] not in known:
            unknown.append("%s: %s%s" % (path, section + "." if section else "", keys[0]))
            continue
        if section == "" and keys[0] in SECTIONS and len(keys) > 1:
            if keys[1] not in SECTIONS[keys[0]]:
                unknown.append("%s: %s.%s" % (path, keys[0], keys[1]))
    assert not unknown, "read by the firmware but not in the schema: " + ", ".join(unknown)


def schema_names():
    names = sorted(DEFAULTS)
    for section in ("netting", "pulses", "rs485", "rtc"):
        names += ["%s.%s" % (section, k) for k in sorted(SECTIONS[section])]
    return names


def test_every_setting_is_documented_with_its_range_and_default():
    text = (ROOT / "docs" / "config.md").read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*`([a-z0-9_.]+)`\s*\|([^|]*)\|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), match.group(3).strip())
    missing = [n for n in schema_names() if n not in rows]
    assert not missing, "docs/config.md has no row for " + ", ".join(missing)
    for name in schema_names():
        allowed, default = rows[name]
        assert allowed and default, name  # both columns say something
    stale = [n for n in rows if n not in schema_names() and n not in BOARDS]
    assert not stale, "docs/config.md documents settings that do not exist: " + ", ".join(stale)


def test_documented_defaults_are_the_schemas():
    text = (ROOT / "docs" / "config.md").read_text()
    for name, value in (
        ("poll_period_s", DEFAULTS["poll_period_s"]),
        ("timeout_ms", DEFAULTS["timeout_ms"]),
        ("checkpoint_s", DEFAULTS["checkpoint_s"]),
        ("watchdog_ms", DEFAULTS["watchdog_ms"]),
        ("netting.max_gap_s", NETTING_DEFAULTS["max_gap_s"]),
        ("pulses.debounce_ms", PULSE_DEFAULTS["debounce_ms"]),
        ("rs485.baud", RS485_DEFAULTS["baud"]),
    ):
        assert re.search(r"\|\s*`%s`\s*\|[^|]*\|\s*`?%s`?" % (re.escape(name), value), text), name


def test_shared_imports_neither_boards_nor_the_firmware_nor_the_host():
    # The validator once imported boards.BOARDS, netmeter.pulses and boards.drivers.rs485:
    # shared/ is imported by the layers above it, never the other way.
    wrong = []
    for path in sorted((ROOT / "shared").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("boards", "netmeter", "host", "tests"):
                    wrong.append("%s imports %s" % (path.name, name))
    assert not wrong, wrong
