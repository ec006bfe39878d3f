"""`host config ...`: validate a config file, pull the device's config, push a new one or
set single settings.

A push never drops a setting silently: before anything is sent, the effective settings
(defaults included) the device runs with are compared with those of the new config, every
change is shown, and a setting the device has that the new config leaves out is refused
unless --remove is given. The board keeps its old config until the new one is validated
and written atomically (PUT_CONFIG); it applies it at its next boot."""

import json

from host.commands.device import link_arguments
from host.errors import CommandError, shorten

# Kept from the device when a new config leaves them out: what the history is keyed by and
# what `host deploy` wrote for the hardware, not settings a site file is expected to carry.
IDENTITY = ("device_id", "board")


def effective(cfg):
    """The settings a board runs with for cfg: shared.config's complete, defaulted settings
    (the one place that knows the defaults), less what it derives from them (the polled
    quantities). A config the validator refuses (an older device's) is compared as it is."""
    from shared.config import ConfigInvalid, settings

    try:
        full = settings(json.loads(json.dumps(cfg)))
    except (ConfigInvalid, TypeError, ValueError):
        return dict(cfg)
    full.pop("polled", None)
    return full


def flatten(cfg, prefix=""):
    """{dotted key: value} of a nested config; lists and tuples compare as lists."""
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + key + "."))
        else:
            out[prefix + key] = list(value) if isinstance(value, tuple) else value
    return out


def show(value):
    return shorten(json.dumps(value), 60)


class Change:
    """The difference between the device's config and a new one, setting by setting."""

    def __init__(self, old, new):
        self.old_set, self.new_set = flatten(old), flatten(new)
        self.old, self.new = flatten(effective(old)), flatten(effective(new))
        self.removed = sorted(k for k in self.old_set if k not in self.new_set)
        keys = sorted(set(self.old) | set(self.new) | set(self.old_set) | set(self.new_set))
        self.lines = []
        for key in keys:
            before = self.old_set.get(key, self.old.get(key, None))
            after = self.new_set.get(key, self.new.get(key, None))
            if before == after and key not in self.removed:
                continue
            self.lines.append(
                "  %-28s %s -> %s%s"
                % (
                    key,
                    self._value(key, before, self.old_set, self.old),
                    self._value(key, after, self.new_set, self.new),
                    "   (removed from the config)" if key in self.removed else "",
                )
            )

    @staticmethod
    def _value(key, value, explicit, full):
        if key in explicit:
            return show(value)
        if key in full:
            return "%s (default)" % show(value)
        return "(not set)"


def push(args, cfg, source):
    """Show what changes from the device's config to cfg, then install cfg (unless
    --dry-run); refuse to drop settings the device has unless --remove."""
    from host.configfile import validate

    state = args.state
    info = state.info()
    current = info.get("device_id")
    old = state.link().get_config()
    for key in IDENTITY:
        if key not in cfg and key in old:
            cfg[key] = old[key]  # the id: the history is keyed by it; the board: deploy's
    if current and cfg.get("device_id") != current:
        raise CommandError(
            "%s sets device_id %r but the device is %r: changing it splits the device's history; "
            "redeploy with --device-id to rename a device" % (source, cfg["device_id"], current)
        )
    validate(cfg, source)
    change = Change(old, cfg)
    if change.removed and not getattr(args, "remove", False):
        raise CommandError(
            "%s leaves out %s the device has (%s): add %s to %s, or give --remove to drop "
            "%s (the device then uses %s)"
            % (
                source,
                "a setting" if len(change.removed) == 1 else "settings",
                ", ".join("%s = %s" % (k, show(change.old_set[k])) for k in change.removed[:6])
                + (", ..." if len(change.removed) > 6 else ""),
                "it" if len(change.removed) == 1 else "them",
                source,
                "it" if len(change.removed) == 1 else "them",
                "the default" if len(change.removed) == 1 else "the defaults",
            )
        )
    if not change.lines:
        print("no change: %s already runs with these settings" % (current or "the device"))
        return
    print("changes on %s (effective settings, defaults included):" % (current or "the device"))
    print("\n".join(change.lines))
    if info.get("config_pending"):
        print("note: a config pushed earlier waits for a reboot; this one replaces it")
    if getattr(args, "dry_run", False):
        print("dry run: nothing sent")
        return
    state.keyed_link().put_config(cfg)
    print("config accepted by %s; it takes effect when the board restarts" % current)


def cmd_config_push(args):
    """Validate a config file, show what changes on the device and install it.

    The change is shown setting by setting (effective values, defaults included) before
    anything is sent; a setting the device has that FILE leaves out is refused unless
    --remove. The device applies the new config at its next boot."""
    from pathlib import Path

    from host.configfile import load

    push(args, load(args.file), Path(args.file).name)


def assignment(text):
    """KEY=VALUE -> (['section', 'key'], value); VALUE is JSON, else a string."""
    import argparse

    key, eq, raw = text.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(parts):
        raise argparse.ArgumentTypeError(
            "%r is not KEY=VALUE (a dotted key such as rs485.baud=19200)" % shorten(text, 80)
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return parts, value


def cmd_config_set(args):
    """Change single settings of the device's config, show the change and install it.

    KEY is a dotted setting (rs485.baud, netting.interval_min, meter.MAP); VALUE is JSON
    (15, true, ["registers", "power"]) or else taken as text. The other settings stay as
    the device has them."""
    cfg = json.loads(json.dumps(args.state.link().get_config()))  # a deep copy
    for parts, value in args.assignments:
        target = cfg
        for part in parts[:-1]:
            inner = target.setdefault(part, {})
            if not isinstance(inner, dict):
                raise CommandError("%s is a setting, not a section" % ".".join(parts[:-1]))
            target = inner
        target[parts[-1]] = value
    push(args, cfg, "config set")


def cmd_config_pull(args):
    """Print the device's config, or write it to --out as JSON."""
    from host.configfile import dump

    cfg = args.state.link().get_config()
    if args.out:
        dump(cfg, args.out)
        print("wrote %s" % args.out)
    else:
        print(json.dumps(cfg, indent=2, sort_keys=True))


def cmd_config_validate(args):
    """Check a config file against the device's schema, without a device."""
    from host.configfile import load

    load(args.file)
    print("%s: valid" % args.file)


def file_argument(p):
    p.add_argument("file", help="config file: JSON (// and # comments allowed) or .toml")


def change_arguments(p):
    p.add_argument("--dry-run", action="store_true", help="show what would change; send nothing")


def config_push_arguments(p):
    link_arguments(p)
    file_argument(p)
    p.add_argument(
        "--remove",
        action="store_true",
        help="allow FILE to drop settings the device has (they fall back to their defaults)",
    )
    change_arguments(p)


def config_set_arguments(p):
    link_arguments(p)
    p.add_argument(
        "assignments",
        nargs="+",
        type=assignment,
        metavar="KEY=VALUE",
        help="a setting and its value, e.g. rs485.baud=19200 netting.interval_min=5",
    )
    change_arguments(p)


def config_pull_arguments(p):
    link_arguments(p)
    p.add_argument("--out", help="write the config here (JSON) instead of printing it")
