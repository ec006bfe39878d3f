# The firmware's heap kept small by forgetting code once it is used: a module loaded from .mpy
# keeps its bytecode in RAM until it leaves sys.modules (and its package) and the GC runs.
#
# Every module dropped after use is named here, in groups by the moment it goes (*_MODULES).
# A group is one string of module names separated by spaces: a string this long is an object
# of its own in the heap while this module is loaded, so one per group rather than one per
# name (about 30 bytes each on a board). A module whose objects live on (DeRs485 on rp2)
# stays in the heap when forgotten but costs nothing more.
#
# This module is not kept either (1.6 KB on a 64-bit VM): the runner imports it for the boot
# and then forgets it (HEAP_MODULES), as does the link after each use.
import gc
import sys

# Making the settings: the schema and its sections, the meter map's builder, reading
# config.json (netmeter.runner at boot; netmeter.linkdevice validating a PUT_CONFIG, which is
# rare, so given back at once).
CONFIG_MODULES = (
    "netmeter.bootconfig shared.config shared.configboards shared.configcheck"
    " shared.confignetting shared.configpulses shared.configrtc shared.mapconfig"
)
# The strict JSON check of a PUT_CONFIG body (netmeter.link): rare, so given back at once.
STRICT_JSON_MODULES = "shared.strictjson"
# Only a board's build() needs these (wiring helpers, the S0 words its values came from).
BOARD_BOOT_MODULES = "boards.drivers.rs485 boards.drivers.irqpins shared.s0"
# Only building the app needs these: opening and repairing the store, carrying on from the
# checkpoint, the netting core's builder and its defaults (netmeter.app).
APP_BOOT_MODULES = (
    "netmeter.repair netmeter.checkpoint netmeter.netting shared.config shared.configcheck"
)
# This module, once the board has booted (netmeter.runner) and after each use on the link
# (netmeter.link, netmeter.linkdevice, netmeter.linkservice).
HEAP_MODULES = "netmeter.heap"
# The link server (netmeter.linkservice builds it when a host first sends a frame and drops
# it when the host goes quiet).
LINK_SERVER_MODULES = (
    "netmeter.link netmeter.linkdevice shared.frame shared.linkproto shared.auth"
    " shared.confighash shared.config netmeter.heap"
)


def forget_modules(names):
    """Let the GC take back modules no longer needed (their code lives in RAM): out of
    sys.modules and off their package, which an import also binds them to. names: one of
    the groups above (names separated by spaces)."""
    for name in names.split():
        sys.modules.pop(name, None)
        package, _, leaf = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and hasattr(parent, leaf):
            delattr(parent, leaf)
    gc.collect()


def release_firmware():
    """Forget every module of the firmware (main, netmeter, shared, boards) so the GC can take
    their code and state back: mpremote's file transfer after Ctrl-C needs the heap."""
    for name in list(sys.modules):
        if name == "main" or name.split(".")[0] in ("netmeter", "shared", "boards"):
            sys.modules.pop(name, None)
    gc.collect()
