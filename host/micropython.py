"""CPython's stand-in for MicroPython's `micropython` module, so firmware, boards and shared
modules import `from micropython import const` plainly and run unchanged in the host and the
tests. host/__init__.py registers it as `micropython` when no real one exists.

const is the identity, as MicroPython's own docs describe it for CPython; viper and native
leave the function as plain Python (only netmeter.pulsecounter uses them).
"""


def const(value):
    return value


def viper(function):
    return function


def native(function):
    return function
