# netmeter host companion (CPython): link client, history, simulator.
import sys

# The firmware's modules, which the host imports too, say `from micropython import const`.
if "micropython" not in sys.modules:
    from host import micropython as _micropython

    sys.modules["micropython"] = _micropython
