"""Strict fakes of machine, countio, busio, digitalio, microcontroller, watchdog, rtc, board,
and of CircuitPython's time, hashlib, micropython, storage, usb_cdc and CIRCUITPY drive.

They fail loudly (HardwareMisuse) on what real hardware would get wrong silently: unknown
pins, unknown keyword arguments, a soft IRQ where a hard one is needed (rp2) or a hard IRQ
the port lacks (esp32), UART writes while DE is low, reads of a deinitialised counter.
Where the real port raises, they raise what it raises (seen on CircuitPython 10.2.1):
countio on a pin that is not on a PWM channel B (RuntimeError), a write to CIRCUITPY before
boot.py remounted it (OSError 30), and names the port does not have (no hashlib.sha256, no
time.sleep_ms or ticks_*, a micropython module with const only: AttributeError/ImportError).
Every call lands in one event log, so tests can check the order of DE, write and flush.
"""

import builtins
import errno
import hashlib as _hashlib
import os
import time
import traceback as _traceback
import types

_UNSET = object()


class HardwareMisuse(AssertionError):
    pass


def _check_kwargs(what, kwargs, allowed):
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise HardwareMisuse("%s got unknown keyword(s) %s" % (what, sorted(unknown)))


class Log(list):
    def of(self, kind):
        return [e for e in self if e[0] == kind]


def make_machine(pins, flavour, log=None, de_pin=None, uart_ids=(0, 1), counter_ids=()):
    """A fake `machine` module for flavour "rp2" or "esp32" with the given GPIO numbers."""
    log = Log() if log is None else log
    state = types.SimpleNamespace(pins={}, de_pin=de_pin, irq_disabled=False)

    class Pin:
        IN = 0
        OUT = 1
        PULL_UP = 1
        PULL_DOWN = 2
        IRQ_FALLING = 4
        IRQ_RISING = 8

        def __init__(self, id, mode=None, pull=None, *, value=None):
            if id not in pins:
                raise HardwareMisuse("Pin(%r): no such GPIO on this board %s" % (id, pins))
            if mode not in (None, Pin.IN, Pin.OUT):
                raise HardwareMisuse("Pin(%r): bad mode %r" % (id, mode))
            if pull not in (None, Pin.PULL_UP, Pin.PULL_DOWN):
                raise HardwareMisuse("Pin(%r): bad pull %r" % (id, pull))
            self.id = id
            self.mode = mode
            self.pull = pull
            self.level = 1 if pull == Pin.PULL_UP else 0
            if value is not None:
                self.level = value
            self.irq_args = None
            state.pins[id] = self

        def value(self, v=_UNSET):
            if v is _UNSET:
                return self.level
            if self.mode != Pin.OUT:
                raise HardwareMisuse("Pin(%r).value(%r) on a pin that is not an output" % v)
            self.level = 1 if v else 0
            if self.id == state.de_pin:
                log.append(("de", self.level))

        def irq(self, handler=None, trigger=None, **kwargs):
            _check_kwargs("Pin.irq", kwargs, ("hard", "priority", "wake"))
            hard = kwargs.get("hard", False)
            if flavour == "rp2" and not hard:
                raise HardwareMisuse(
                    "Pin(%r).irq without hard=True: a burst overflows the schedule queue" % self.id
                )
            if flavour == "esp32" and hard:
                raise HardwareMisuse("esp32 Pin.irq has no hard=True")
            if (
                not callable(handler)
                or not trigger
                or trigger & ~(Pin.IRQ_FALLING | Pin.IRQ_RISING)
            ):
                raise HardwareMisuse(
                    "Pin(%r).irq(handler=%r, trigger=%r)" % (self.id, handler, trigger)
                )
            self.irq_args = {"handler": handler, "trigger": trigger, "hard": hard}

        def drive(self, level):
            """The outside world changes the input level; a matching IRQ runs its handler."""
            if self.mode != Pin.IN:
                raise HardwareMisuse("driving Pin(%r), which is not an input" % self.id)
            if level == self.level:
                return
            self.level = level
            edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
            if self.irq_args and self.irq_args["trigger"] & edge:
                self.irq_args["handler"](self)

    class UART:
        def __init__(self, id, **kwargs):
            if id not in uart_ids:
                raise HardwareMisuse("UART(%r): no such UART" % id)
            _check_kwargs(
                "UART",
                kwargs,
                ("baudrate", "bits", "parity", "stop", "tx", "rx", "timeout", "txbuf", "rxbuf"),
            )
            if kwargs.get("parity") not in (None, 0, 1):
                raise HardwareMisuse("UART parity must be None, 0 or 1")
            if kwargs.get("stop", 1) not in (1, 2):
                raise HardwareMisuse("UART stop must be 1 or 2")
            for key in ("tx", "rx"):
                pin = kwargs.get(key)
                number = pin.id if isinstance(pin, Pin) else pin
                if number is not None and number not in pins:
                    raise HardwareMisuse("UART %s=%r: no such GPIO" % (key, pin))
            self.kwargs = kwargs
            self.rx = bytearray()
            self.deinited = False

        def write(self, data):
            de = state.pins.get(state.de_pin)
            if de is None or de.level != 1:
                raise HardwareMisuse("UART.write while DE is low: the transceiver drops it")
            log.append(("write", bytes(data)))
            return len(data)

        def flush(self):
            log.append(("flush",))

        def any(self):
            return len(self.rx)

        def read(self, n=None):
            if not self.rx:
                return None
            n = len(self.rx) if n is None else n
            out = bytes(self.rx[:n])
            del self.rx[:n]
            return out

    class WDT:
        def __init__(self, id=0, timeout=5000):
            if flavour == "rp2" and timeout > 8388:
                raise HardwareMisuse("rp2 WDT timeout %r > 8388 ms" % timeout)
            self.timeout = timeout
            self.feeds = 0
            state.wdt = self

        def feed(self):
            self.feeds += 1
            log.append(("feed",))

    class RTC:
        def __init__(self):
            self.fields = state.__dict__.setdefault("rtc_fields", (2000, 1, 1, 5, 0, 0, 0, 0))

        def datetime(self, fields=_UNSET):
            if fields is _UNSET:
                return state.rtc_fields
            if len(fields) != 8:
                raise HardwareMisuse("RTC.datetime needs 8 fields, got %r" % (fields,))
            state.rtc_fields = tuple(fields)

    class I2C:
        """machine.I2C on a bus of chip models (state.i2c_chips: address -> model, e.g.
        tests/dual/rtcchips.py). rp2 refuses pins its I2C block cannot use, as the port does
        (ValueError "bad SDA pin": GPIO n % 4 == 2 * id for SDA, 2 * id + 1 for SCL)."""

        def __init__(self, id, **kwargs):
            _check_kwargs("I2C", kwargs, ("scl", "sda", "freq", "timeout"))
            if id not in (0, 1):
                raise ValueError("I2C(%r) doesn't exist" % id)
            for key, offset in (("sda", 0), ("scl", 1)):
                pin = kwargs.get(key)
                number = pin.id if isinstance(pin, Pin) else pin
                if number not in pins:
                    raise HardwareMisuse("I2C %s=%r: no such GPIO" % (key, pin))
                if flavour == "rp2" and number % 4 != 2 * id + offset:
                    raise ValueError("bad %s pin" % key.upper())
            self.kwargs = kwargs
            from rtcchips import FakeI2C

            self.bus = FakeI2C(state.__dict__.setdefault("i2c_chips", {}))
            log.append(("i2c", id, kwargs))

        def readfrom_mem(self, addr, memaddr, nbytes):
            return self.bus.readfrom_mem(addr, memaddr, nbytes)

        def writeto_mem(self, addr, memaddr, buf):
            return self.bus.writeto_mem(addr, memaddr, buf)

    class Counter:
        RISING = 1
        FALLING = 2
        UP = 1
        DOWN = -1

        def __init__(self, id, src=None, **kwargs):
            if flavour != "esp32":
                raise HardwareMisuse("machine.Counter exists on esp32 only")
            if id not in counter_ids:
                raise HardwareMisuse("Counter(%r): no such PCNT unit" % id)
            _check_kwargs("Counter", kwargs, ("edge", "direction", "filter_ns"))
            if not isinstance(src, Pin):
                raise HardwareMisuse("Counter src must be a machine.Pin")
            if kwargs.get("edge", Counter.RISING) not in (Counter.RISING, Counter.FALLING):
                raise HardwareMisuse("Counter edge %r" % kwargs.get("edge"))
            self.id = id
            self.src = src
            self.kwargs = kwargs
            self.count = 0
            self.deinited = False
            state.__dict__.setdefault("counters", {})[id] = self

        def value(self, v=_UNSET):
            if self.deinited:
                raise HardwareMisuse("Counter(%r).value() after deinit()" % self.id)
            old = self.count
            if v is not _UNSET:
                self.count = v
            return old

        def deinit(self):
            self.deinited = True

    class Timer:
        """rp2: a soft timer, id -1 only (ports/rp2/machine_timer.c); esp32: hardware
        timers 0..3. Keyword-only mode/period/callback/tick_hz/freq; fire() stands for the
        alarm interrupt scheduling the callback, which then runs as a soft callback."""

        ONE_SHOT = 0
        PERIODIC = 1

        def __init__(self, id=-1, **kwargs):
            valid = (-1,) if flavour == "rp2" else (0, 1, 2, 3)
            if id not in valid:
                raise HardwareMisuse("Timer(%r) doesn't exist on %s" % (id, flavour))
            _check_kwargs("Timer", kwargs, ("mode", "period", "callback", "tick_hz", "freq"))
            if kwargs.get("mode", Timer.PERIODIC) not in (Timer.ONE_SHOT, Timer.PERIODIC):
                raise HardwareMisuse("Timer mode %r" % kwargs.get("mode"))
            self.kwargs = kwargs
            self.running = True
            state.__dict__.setdefault("timers", []).append(self)

        def fire(self):
            if self.running and self.kwargs.get("callback") is not None:
                self.kwargs["callback"](self)

        def deinit(self):
            self.running = False

    def disable_irq():
        if state.irq_disabled:
            raise HardwareMisuse("disable_irq() twice without enable_irq()")
        state.irq_disabled = True
        log.append(("disable_irq",))
        return 0x5A

    def enable_irq(s):
        if not state.irq_disabled or s != 0x5A:
            raise HardwareMisuse("enable_irq(%r) without a matching disable_irq()" % s)
        state.irq_disabled = False
        log.append(("enable_irq",))

    machine = types.ModuleType("machine")
    machine.Pin = Pin
    machine.UART = UART
    machine.WDT = WDT
    machine.RTC = RTC
    machine.Timer = Timer
    machine.I2C = I2C
    machine.unique_id = lambda: b"\xe6\x61\x38\x52\x83\x3a\x4f\x2c"
    if flavour == "esp32":
        machine.Counter = Counter
    machine.disable_irq = disable_irq
    machine.enable_irq = enable_irq
    machine.log = log
    machine.state = state
    return machine


# Adafruit Feather RP2040: board pin name -> RP2040 GPIO (CircuitPython's pins.c).
FEATHER_RP2040_GPIO = {
    "TX": 0, "RX": 1, "SDA": 2, "SCL": 3, "D4": 6, "D5": 7, "D6": 8, "D9": 9, "D10": 10,
    "D11": 11, "D12": 12, "D13": 13, "SCK": 18, "MOSI": 19, "MISO": 20, "D24": 24, "D25": 25,
    "A0": 26, "A1": 27, "A2": 28, "A3": 29,
}  # fmt: skip


def make_circuitpython(pin_names, log=None, gpio=None):
    """Fake board, busio, countio, digitalio, microcontroller, watchdog and rtc modules.
    gpio: pin name -> RP2040 GPIO number (default FEATHER_RP2040_GPIO); countio refuses a
    pin on a PWM channel A (an even GPIO), as the RP2040 port does."""
    log = Log() if log is None else log
    gpio = FEATHER_RP2040_GPIO if gpio is None else gpio
    mods = {}

    class BoardPin:
        def __init__(self, name):
            self.name = name
            self.claimed = False
            self.gpio = gpio.get(name)

        def claim(self, by):
            if self.claimed:
                raise HardwareMisuse("board.%s already in use" % self.name)
            self.claimed = by

    board = types.ModuleType("board")
    for name in pin_names:
        setattr(board, name, BoardPin(name))
    mods["board"] = board

    digitalio = types.ModuleType("digitalio")
    digitalio.Pull = types.SimpleNamespace(UP="Pull.UP", DOWN="Pull.DOWN")
    digitalio.grounded = set()  # pin names tied to GND (a jumper or a held button)

    class DigitalInOut:
        def __init__(self, pin):
            if not isinstance(pin, BoardPin):
                raise HardwareMisuse("DigitalInOut needs a board pin, got %r" % pin)
            pin.claim(self)
            self.pin = pin
            self.pull = None

        def switch_to_input(self, pull=None):
            self.pull = pull

        @property
        def value(self):
            if self.pin.name in digitalio.grounded:
                return False
            if self.pull is None:
                raise HardwareMisuse("reading a floating input %s" % self.pin.name)
            return self.pull == "Pull.UP"

        def deinit(self):
            self.pin.claimed = False

    digitalio.DigitalInOut = DigitalInOut
    mods["digitalio"] = digitalio

    countio = types.ModuleType("countio")
    countio.Edge = types.SimpleNamespace(FALL="Edge.FALL", RISE="Edge.RISE", RISE_AND_FALL="RF")
    countio.counters = []

    class Counter:
        def __init__(self, pin, **kwargs):
            _check_kwargs("countio.Counter", kwargs, ("edge", "pull"))
            if not isinstance(pin, BoardPin):
                raise HardwareMisuse("countio.Counter needs a board pin, got %r" % pin)
            if pin.gpio is None or pin.gpio % 2 == 0:
                # RP2040: countio counts with a PWM slice, whose input is its channel B pin.
                raise RuntimeError("Pin must be on PWM Channel B")
            if kwargs.get("edge", countio.Edge.FALL) not in ("Edge.FALL", "Edge.RISE"):
                raise HardwareMisuse("countio edge %r" % kwargs.get("edge"))
            pin.claim(self)
            self.pin = pin
            self.kwargs = kwargs
            self._count = 0
            self.deinited = False
            self.reads = 0
            countio.counters.append(self)

        @property
        def count(self):
            if self.deinited:
                raise HardwareMisuse("countio.Counter.count after deinit()")
            self.reads += 1
            return self._count

        @count.setter
        def count(self, value):
            raise HardwareMisuse("setting count loses edges between read and reset")

        def reset(self):
            raise HardwareMisuse("reset() loses edges between read and reset")

        def edges(self, n):
            self._count = (self._count + n) & 0xFFFFFFFF

        def deinit(self):
            self.deinited = True

    countio.Counter = Counter
    mods["countio"] = countio

    busio = types.ModuleType("busio")

    class UART:
        Parity = types.SimpleNamespace(EVEN="Parity.EVEN", ODD="Parity.ODD")

        def __init__(self, tx, rx, **kwargs):
            _check_kwargs(
                "busio.UART",
                kwargs,
                (
                    "baudrate",
                    "bits",
                    "parity",
                    "stop",
                    "timeout",
                    "receiver_buffer_size",
                    "rs485_dir",
                    "rs485_invert",
                ),
            )
            for pin in (tx, rx, kwargs.get("rs485_dir")):
                if pin is not None and not isinstance(pin, BoardPin):
                    raise HardwareMisuse("busio.UART pins must be board pins, got %r" % pin)
                if pin is not None:
                    pin.claim(self)
            self.kwargs = kwargs
            self.rx = bytearray()
            busio.uart = self

        @property
        def in_waiting(self):
            return len(self.rx)

        def write(self, data):
            if self.kwargs.get("rs485_dir") is None:
                raise HardwareMisuse("busio.UART without rs485_dir: DE never rises")
            log.append(("write", bytes(data)))
            return len(data)

        def read(self, n=None):
            if not self.rx:
                return None
            n = len(self.rx) if n is None else n
            out = bytes(self.rx[:n])
            del self.rx[:n]
            return out

    busio.UART = UART
    mods["busio"] = busio

    watchdog = types.ModuleType("watchdog")
    watchdog.WatchDogMode = types.SimpleNamespace(RAISE="RAISE", RESET="RESET")
    mods["watchdog"] = watchdog

    class WatchDogTimer:
        def __init__(self):
            self.timeout = None
            self.mode = None
            self.feeds = 0

        def __setattr__(self, key, value):
            if key == "mode" and value is not None and not self.timeout:
                raise HardwareMisuse("watchdog mode set before timeout")
            object.__setattr__(self, key, value)

        def feed(self):
            if self.mode is None:
                raise HardwareMisuse("watchdog.feed() before mode is set")
            self.feeds += 1
            log.append(("feed",))

    microcontroller = types.ModuleType("microcontroller")
    microcontroller.watchdog = WatchDogTimer()
    microcontroller.cpu = types.SimpleNamespace(uid=bytearray(b"\xe6\x61\x38\x52\x83\x3a\x4f\x2c"))
    mods["microcontroller"] = microcontroller

    rtc = types.ModuleType("rtc")

    class RTC:
        # One RTC per chip: every RTC() object sees the same time.
        now = time.struct_time((2000, 1, 1, 0, 0, 0, 5, 1, -1))

        @property
        def datetime(self):
            return RTC.now

        @datetime.setter
        def datetime(self, value):
            if not isinstance(value, time.struct_time):
                raise HardwareMisuse("rtc.RTC().datetime needs a time.struct_time")
            RTC.now = value

    rtc.RTC = RTC
    mods["rtc"] = rtc
    return mods, log


# -- CircuitPython's runtime: its time, hashlib, micropython, traceback, storage and usb_cdc --


class VirtualTime:
    """CircuitPython's time module on a clock the test owns: sleep() moves it (by at least
    `grain` seconds, so a main loop sleeping 5 ms covers minutes in few passes). No
    sleep_ms, sleep_us or ticks_*: CircuitPython has none of them."""

    def __init__(self, start_ns=1000 * 10**9, grain=0.0, per_read_ns=0):
        self.ns = start_ns
        self.grain = grain
        self.per_read_ns = per_read_ns  # code takes time too: each reading moves the clock
        mod = types.ModuleType("time")
        mod.sleep = self.sleep
        mod.monotonic = lambda: self.monotonic_ns() / 1e9
        mod.monotonic_ns = self.monotonic_ns
        mod.time = lambda: int(self.ns // 10**9)
        mod.localtime = time.localtime
        mod.struct_time = time.struct_time
        self.module = mod

    def monotonic_ns(self):
        self.ns += self.per_read_ns
        return self.ns

    def sleep(self, seconds):
        self.ns += int(max(seconds, self.grain) * 1e9)


def make_circuitpython_runtime():
    """{name: module} of CircuitPython's hashlib (new() only), micropython (const only) and
    traceback (print_exception)."""
    hashlib = types.ModuleType("hashlib")

    def new(name, data=b""):
        if name not in ("sha1", "sha256"):
            raise ValueError("Unsupported hash algorithm")
        return _hashlib.new(name, data)

    hashlib.new = new
    micropython = types.ModuleType("micropython")
    micropython.const = lambda value: value
    tb = types.ModuleType("traceback")
    tb.print_exception = lambda exc, value=None, tb=None, **kw: _traceback.print_exception(
        value or exc
    )
    return {"hashlib": hashlib, "micropython": micropython, "traceback": tb}


class Serial:
    """A usb_cdc.Serial: what the host sent waits in rx; what the board wrote lands in tx.
    stop_after: after that many reads with nothing waiting, the next read raises
    KeyboardInterrupt (Ctrl-C), which ends the firmware's loop for the test."""

    def __init__(self, stop_after=None):
        self.rx = bytearray()
        self.tx = bytearray()
        self.timeout = 1.0
        self.write_timeout = None
        self.stop_after = stop_after
        self.idle_reads = 0
        self.later = {}  # idle reads -> bytes the host sends then

    @property
    def in_waiting(self):
        if not self.rx:
            self.idle_reads += 1
            self.rx += self.later.pop(self.idle_reads, b"")
            if self.stop_after is not None and self.idle_reads > self.stop_after:
                raise KeyboardInterrupt
        return len(self.rx)

    def read(self, size=-1):
        if self.timeout != 0:
            raise HardwareMisuse("usb_cdc read with a timeout blocks the main loop")
        n = len(self.rx) if size < 0 else min(size, len(self.rx))
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def write(self, data):
        self.tx += data
        return len(data)


class CircuitPyDrive:
    """CIRCUITPY at root and the storage and usb_cdc modules that govern it.

    As on CircuitPython: code may not write the drive (OSError 30) unless boot.py called
    storage.remount("/", readonly=False); remount and usb_cdc.enable are refused once boot.py
    is over (the drive is visible over USB then); usb_cdc.data exists only after a boot.py
    that enabled it. install() makes builtins.open and os's writers refuse under root."""

    def __init__(self, root):
        self.root = os.path.abspath(str(root))
        self.readonly = True
        self.booting = True
        self.data_enabled = False
        self.writes = []  # paths written by code
        self.storage = types.ModuleType("storage")
        self.storage.remount = self.remount
        self.storage.getmount = self.getmount
        self.usb_cdc = types.ModuleType("usb_cdc")
        self.usb_cdc.enable = self.enable
        self.usb_cdc.data = None
        self.usb_cdc.console = Serial()

    def remount(self, mount_path, readonly=False, *, disable_concurrent_write_protection=False):
        if mount_path != "/":
            raise OSError(errno.EINVAL, "Invalid argument")
        if not self.booting:
            raise RuntimeError("Cannot remount path when visible via USB.")
        self.readonly = readonly

    def getmount(self, mount_path):
        if mount_path != "/":
            raise OSError(errno.EINVAL, "Invalid argument")
        return types.SimpleNamespace(readonly=self.readonly, label="CIRCUITPY")

    def enable(self, console=True, data=False):
        if not self.booting:
            raise RuntimeError("Cannot change USB devices now")
        self.data_enabled = data

    def end_boot(self, stop_after=None):
        """boot.py is over and USB enumerates: the data port exists if boot.py enabled it."""
        self.booting = False
        self.usb_cdc.data = Serial(stop_after) if self.data_enabled else None
        return self.usb_cdc.data

    def modules(self):
        return {"storage": self.storage, "usb_cdc": self.usb_cdc}

    def _check(self, path):
        path = os.path.abspath(os.fspath(path))
        if path == self.root or path.startswith(self.root + os.sep):
            if self.readonly:
                raise OSError(errno.EROFS, "Read-only filesystem")
            self.writes.append(path)

    def install(self, monkeypatch):
        real_open = builtins.open

        def open_(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+"):
                self._check(file)
            return real_open(file, mode, *args, **kwargs)

        def guard(real, paths=1):
            def writer(*args, **kwargs):
                for path in args[:paths]:
                    self._check(path)
                return real(*args, **kwargs)

            return writer

        monkeypatch.setattr(builtins, "open", open_)
        for name, paths in (("mkdir", 1), ("remove", 1), ("rmdir", 1), ("rename", 2)):
            monkeypatch.setattr(os, name, guard(getattr(os, name), paths))
