"""`host config ...`: validate a config file, pull the device's config, push a new one."""

import json

from host.commands.device import link_arguments
from host.errors import CommandError


def cmd_config_push(args):
    """Validate a config file and install it on the device (applied at its next boot)."""
    from host.configfile import load

    cfg = load(args.file)
    state = args.state
    current = state.info().get("device_id")
    if "device_id" not in cfg and current:
        cfg["device_id"] = current  # keep the id: the history is keyed by it
    elif current and cfg.get("device_id") != current:
        raise CommandError(
            "%s sets device_id %r but the device is %r: changing it splits the device's history; "
            "redeploy with --device-id to rename a device" % (args.file, cfg["device_id"], current)
        )
    state.keyed_link().put_config(cfg)
    print("config accepted by %s; it takes effect when the board restarts" % current)


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


def config_push_arguments(p):
    link_arguments(p)
    file_argument(p)


def config_pull_arguments(p):
    link_arguments(p)
    p.add_argument("--out", help="write the config here (JSON) instead of printing it")
