"""What a `host` command prints when it fails: one line `host: message`, never a traceback.

CommandError is the command modules' own failure; expected_errors() lists the library
errors that are a person's problem, not a bug, and describe() turns any of them into the
line, cut to a readable length."""

import errno

LINE_MAX = 400  # characters of a message; the rest of a long value is cut from the middle


class CommandError(Exception):
    """An expected failure: printed as one line on stderr, exit status 1, no traceback."""


class DeployError(RuntimeError):
    """A deploy that cannot go on (host.deploy, host.identity): nothing was changed."""


def expected_errors():
    """The exception classes that are a person's problem, not a bug: one line each."""
    import sqlite3

    import serial

    from host.configfile import ConfigFileError
    from host.history import HistoryError
    from host.link import LinkError
    from host.sync import SyncError

    return (
        CommandError,
        LinkError,
        SyncError,
        HistoryError,
        ConfigFileError,
        serial.SerialException,
        sqlite3.Error,
        OSError,
        RecursionError,
    )


def shorten(text, limit=LINE_MAX):
    """text, or its head and tail around a note of how much was cut (a 2 MB value in an
    error line helps nobody; its key comes first and the rule last, so both stay)."""
    text = " ".join(str(text).split("\n"))
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail - 40
    return "%s ... [%d characters cut] ... %s" % (
        text[:head],
        len(text) - head - tail,
        text[-tail:],
    )


def describe(exc, args):
    """The one line (without `host: `) for an expected error."""
    import serial

    from host.link import DeviceError

    device = getattr(args, "device", None) or "the board"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read (Python's recursion limit)"
    if isinstance(exc, DeviceError) and "no link key" in str(exc):
        return shorten(
            "%s; provision a key with `host deploy --device %s --board NAME` (it keeps the "
            "board's config, device id and records)" % (exc, device if device else "PORT")
        )
    if getattr(exc, "errno", None) == errno.ENOTTY or "Could not configure port" in str(exc):
        return "%s is not a serial port: give the board's USB serial port (ls /dev/ttyACM*)" % (
            device
        )
    if isinstance(exc, serial.SerialException) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) == errno.EIO  # unplugged
    ):
        return shorten("lost the connection to %s (unplugged?): %s" % (device, exc))
    if isinstance(exc, OSError) and exc.filename:
        return shorten("%s: %s" % (exc.filename, exc.strerror))
    return shorten(str(exc) or type(exc).__name__)
