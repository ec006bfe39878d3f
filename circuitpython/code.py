# netmeter code.py for CircuitPython (`host deploy` installs it; CircuitPython runs code.py).
#
# With the drive writable by the firmware (boot.py's running mode) it runs the firmware;
# in maintenance mode a read-only link (netmeter.readonly). An exception that escapes the
# firmware is printed and the board stays reachable, read-only, with its watchdog fed:
# CircuitPython's watchdog cannot be stopped once armed, and would reset the board forever.
import traceback

import microcontroller

from shared.port import fs_writable

FAILED = "fw_failed"  # the error log's code for an exception that stopped the firmware


def link_console():
    """The link's byte stream: usb_cdc.data when boot.py enabled it, else the console."""
    import usb_cdc

    from boards.drivers.usbcdc import data_port

    port = data_port(usb_cdc)
    if port is None:
        from boards.drivers.console import StdioConsole

        port = StdioConsole()
    return port


def read_only(mode, errors=()):
    import json

    from netmeter.readonly import ReadOnlyDevice, serve

    try:
        with open("config.json") as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}
    watchdog = microcontroller.watchdog
    feed = watchdog.feed if watchdog.mode is not None else None
    console = link_console()
    board = config.get("board", "feather_rp2040_cp")
    serve(console, ReadOnlyDevice(board, config, mode, errors, console.name), feed)


if not fs_writable("/"):
    from netmeter.readonly import MAINTENANCE

    print("netmeter: " + MAINTENANCE + "; reset without the jumper to run")
    read_only(MAINTENANCE)
else:
    try:
        from netmeter.runner import main

        main()
    except Exception as exc:  # noqa: BLE001 - whatever escaped, stay reachable
        traceback.print_exception(exc, exc)  # CircuitPython 10: value is positional too
        text = "%s: %s" % (type(exc).__name__, exc)
        try:  # into the error log too, where the drive is writable
            from netmeter.errlog import ErrorLog

            ErrorLog("errors.log").log(0, FAILED, text)  # on the drive: the cwd is /
        except Exception as log_exc:  # noqa: BLE001 - the board must stay reachable
            print("netmeter: error log: %r" % log_exc)
        read_only("failed: " + text, [[0, FAILED, text, 0]])
