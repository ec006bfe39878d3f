"""Ctrl-C while `host` is still starting (importing, parsing) ends it with one line and exit
status 130 at once: there is nothing to clean up yet, and a KeyboardInterrupt raised inside
Python's import machinery can only print a traceback. Once a command runs, Ctrl-C is a
KeyboardInterrupt again, so that its `finally` blocks stop boards and close files."""

import os
import signal
import sys


def _quit(signum, frame):
    try:
        os.write(2, b"host: interrupted\n")
    finally:
        os._exit(130)


_before = []  # the handler quiet_until_running() replaced


def quiet_until_running():
    """Until running(): Ctrl-C exits at once with `host: interrupted` (main thread only)."""
    try:
        previous = signal.signal(signal.SIGINT, _quit)
    except ValueError:  # not the main thread (a test calling main): leave the handler alone
        return
    if previous is not _quit:
        _before[:] = [previous]


def running():
    """From here on Ctrl-C is what it was before (Python's: a KeyboardInterrupt)."""
    try:
        if signal.getsignal(signal.SIGINT) is _quit:
            signal.signal(signal.SIGINT, _before[0] if _before else signal.default_int_handler)
    except ValueError:
        pass
    sys.stderr.flush()
