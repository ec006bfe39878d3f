"""The simulated board: a directory that plays the flash filesystem and the firmware running
in the `micropython` executable, its console on a pty like a board's USB serial.

The console pty is a controlling terminal with ISIG on, so Ctrl-C from mpremote raises
KeyboardInterrupt in the firmware and lands in the REPL, as on a board. A second pty pair,
relayed, gives the user side its own device path. The control pty carries virtual time and
pulse edges from the simulator (boards/sim_control.py describes the lines).
"""

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import termios
import threading
import time
import tty
from pathlib import Path

from host.mpy import micropython_exe

ROOT = Path(__file__).resolve().parents[2]
BOOT = (
    "import os\n"
    "try:\n"
    "    os.stat('main.py')\n"
    "except OSError:\n"
    "    print('netmeter sim board: no main.py yet, REPL only')\n"
    "else:\n"
    "    import main\n"
)


# The simulated board's heap: 128 KB as a 32-bit board has it. The "w" suffix is the unix
# port's own: the size is given for 4-byte words and scaled to this VM's word, so on a 64-bit
# host (8-byte pointers, 32-byte GC blocks) objects get the room they have on the board
# (259,072 bytes here). A plain 128k on this host would be about half a 32-bit board's
# 128 KB: the firmware's code alone (it lives in the heap when loaded from .mpy) takes
# ~115 KB of it. See README, "Memory".
BOARD_HEAP = "128wK"


class BoardError(RuntimeError):
    pass


def _raw_pty(isig=False):
    master, slave = os.openpty()
    _set_mode(slave, isig)
    return master, slave, os.ttyname(slave)


def _set_mode(fd, isig):
    # Raw, as mpremote needs; with ISIG, 0x03 from the host raises KeyboardInterrupt.
    tty.setraw(fd)
    if isig:
        attrs = termios.tcgetattr(fd)
        attrs[3] |= termios.ISIG
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


WATCHDOG_FEED = "watchdog.feed"  # the file the board's RecordingWatchdog rewrites as it is fed


class SimBoard:
    """Start, stop, kill and restart the board; step it in lockstep virtual time.

    watchdog=True: the board has a watchdog that behaves like rp2's machine.WDT, enforced from
    this side: the firmware's first feed starts it (WATCHDOG_FEED appears), nothing stops it,
    and when WATCHDOG_FEED has not changed for its timeout (the board's watchdog_ms, written
    in the file) of real time, the board is reset: its process killed and started again, as
    a watchdog reset reboots a board. A reset stops it until the firmware starts it again."""

    def __init__(self, directory, heapsize=BOARD_HEAP, watchdog=False):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.heapsize = heapsize
        self.proc = None
        self.console_log = bytearray()
        self._console = _raw_pty(isig=True)  # the firmware's stdin/stdout
        self._user = _raw_pty()  # what mpremote and `host` open
        self._control = _raw_pty()  # simulator <-> firmware lines
        for fd in (self._console[0], self._user[0], self._control[0]):
            os.set_blocking(fd, False)
        self._control_buf = b""
        self._stop = threading.Event()
        self._relay = threading.Thread(target=self._relay_console, daemon=True)
        self._relay.start()
        self._power = threading.RLock()  # kill/start from the test and from the watchdog
        self.watchdog = watchdog
        self.watchdog_resets = 0
        if watchdog:
            threading.Thread(target=self._watch_feeds, daemon=True).start()

    @property
    def device(self):
        """The board's USB serial, as mpremote and `host` see it."""
        return self._user[2]

    @property
    def control_path(self):
        return self._control[2]

    def write_hardware(self, rs485_path):
        """Tell the unix_sim board module where its RS-485 UART and control channel are."""
        hw = {"rs485": rs485_path, "control": self.control_path}
        if self.watchdog:
            hw["watchdog"] = WATCHDOG_FEED
        (self.dir / "unix_sim.json").write_text(json.dumps(hw))

    def write_config(self, config):
        (self.dir / "config.json").write_text(json.dumps(config))

    def start(self):
        with self._power:
            # Power-on: the watchdog is stopped until the firmware starts it.
            (self.dir / WATCHDOG_FEED).unlink(missing_ok=True)
            self._start()

    def _start(self):
        slave = self._console[1]
        # The REPL switches its terminal to raw without ISIG; a process killed there leaves
        # it so. A board's USB serial comes up the same after every reset: set it again.
        _set_mode(slave, isig=True)

        def controlling_terminal():
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        env = dict(os.environ, MICROPYPATH=".frozen:lib:.")
        self.proc = subprocess.Popen(
            [micropython_exe(), "-X", "heapsize=" + self.heapsize, "-i", "-c", BOOT],
            cwd=str(self.dir),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            preexec_fn=controlling_terminal,
        )

    def kill(self):
        """Power cut: SIGKILL, nothing flushed."""
        with self._power:
            if self.proc and self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def stop(self):
        self._stop.set()  # first: the watchdog must not start the board again
        self.kill()

    def restart(self):
        with self._power:
            self.kill()
            self._control_buf = b""
            # Lines in flight die with the power: a run line the old firmware never read would
            # otherwise reach the new one, which answers it with a time long past.
            termios.tcflush(self._control[1], termios.TCIOFLUSH)
            self.start()

    def _watch_feeds(self, poll_s=0.1):
        path = self.dir / WATCHDOG_FEED
        seen, fed_at = None, None
        while not self._stop.wait(poll_s):
            try:
                st = path.stat()
                text = path.read_text()
                timeout_s = int(text.split()[0]) / 1000
            except (OSError, ValueError, IndexError):
                seen = None  # not started (or being rewritten): look again
                continue
            now = time.monotonic()
            if (st.st_mtime_ns, text) != seen:
                seen, fed_at = (st.st_mtime_ns, text), now
            elif now - fed_at > timeout_s:
                with self._power:
                    if self._stop.is_set():
                        return
                    self.console_log += b"\r\n[sim board: watchdog reset]\r\n"
                    self.restart()
                    self.watchdog_resets += 1  # counted once the board is up again
                seen = None

    def _relay_console(self):
        console, user = self._console[0], self._user[0]
        while not self._stop.is_set():
            ready, _, _ = select.select([console, user], [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    continue
                if fd == console:
                    self.console_log += data
                    _write_all(user, data)
                else:
                    _write_all(console, data)

    # --- control channel -------------------------------------------------------------

    def send(self, line):
        _write_all(self._control[0], line.encode() + b"\n")

    def wait_line(self, prefix, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._control_buf:
                line, self._control_buf = self._control_buf.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                if text.startswith(prefix):  # a prefix or a tuple of them
                    return text
            if self.proc is not None and self.proc.poll() is not None:
                raise BoardError(
                    "the firmware exited (%s): %s" % (self.proc.returncode, self.tail())
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise BoardError(
                    "no %r from the board within %.0f s: %s" % (prefix, timeout, self.tail())
                )
            ready, _, _ = select.select([self._control[0]], [], [], min(left, 0.2))
            if ready:
                try:
                    self._control_buf += os.read(self._control[0], 4096)
                except (BlockingIOError, OSError):
                    pass

    def wait_ready(self, timeout=30.0):
        self.wait_line("H", timeout)

    def run_to(self, t_ms, edges=(), timeout=30.0):
        """Deliver edges [(t_ms, input, pin_level)], run the firmware to t_ms, wait for it.

        Returns None, or the name of an armed fault point the firmware stopped at (it then
        waits to be killed: see arm())."""
        self.send_run(t_ms, edges)
        done = self.wait_line(("D", "X "), timeout)
        if done.startswith("X "):
            return done[2:]
        if done != "D %d" % t_ms:
            raise BoardError("board answered %r to R %d" % (done, t_ms))
        return None

    def send_run(self, t_ms, edges=()):
        lines = ["E %d %d %d" % edge for edge in edges]
        lines.append("R %d" % t_ms)
        _write_all(self._control[0], ("\n".join(lines) + "\n").encode())

    def arm(self, point, hits=1):
        """Stop the firmware at its hits-th pass through a fault point (power-cut tests)."""
        self.send("K %s %d" % (point, hits))

    def set_clock(self, t_ms):
        self.send("S %d" % t_ms)

    def tail(self, n=1500):
        return bytes(self.console_log[-n:]).decode(errors="replace")

    def close(self):
        self.stop()
        for pty_fds in (self._console, self._user, self._control):
            for fd in pty_fds[:2]:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


def copy_tree_for_tests(directory):
    """Put the firmware into a board directory without mpremote (tests of the loop only)."""
    lib = Path(directory) / "lib"
    for name in ("netmeter", "shared", "boards"):
        src = ROOT / ("firmware/" + name if name == "netmeter" else name)
        shutil.copytree(
            src, lib / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "firmware" / "main.py", Path(directory) / "main.py")
