"""Modbus RTU master: requests per second over a pty against the simulated meter, beside
pymodbus's and minimalmodbus's clients doing the same reads, and the master's CPU time per
transaction inside the MicroPython VM beside that transaction's wire time.

Run: .venv/bin/python bench/bench_rtu.py [N]   (or `make bench`)

Every client does the generic map's poll: one read of 48 holding registers at 0 from unit
1 (8-byte request, 101-byte reply), N times, against the same pymodbus 3.16 server behind
the same pty relay (host/sim). A pty has no baud rate: bytes arrive as fast as the
processes move them, so these figures measure software, not the line.
"""

import statistics
import sys
import time

import minimalmodbus
import pymodbus
from benchlib import figures, run_vm
from pymodbus.client import ModbusSerialClient

from host.sim.meter import SimMeter
from host.sim.modbus import MeterServer
from host.sim.site import SiteConfig
from netmeter.rtu import silence_us, transmit_us

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
BAUD = 115200  # what the clients are told; the pty ignores it
COUNT = 48


def vm(*args):
    return figures(run_vm("mpy_rtu.py", *args).stdout)


class Turnaround:
    """Times each request from the relay's receiving it to its reply leaving the relay: the
    server's share (relay + pymodbus + register fill) of every client's round trip."""

    def __init__(self, relay):
        self.samples = []
        self._start = None
        framer = relay._requests  # holds the bound _on_request it was made with
        on_request, send = framer.on_frame, relay._send_to_client

        def timed_request(frame):
            self._start = time.perf_counter()
            on_request(frame)

        def timed_send(frame):
            send(frame)
            if self._start is not None:
                self.samples.append(time.perf_counter() - self._start)
                self._start = None

        framer.on_frame, relay._send_to_client = timed_request, timed_send

    def take(self):
        samples, self.samples = self.samples, []
        return statistics.median(samples) * 1e6 if samples else float("nan")


def rate(read_once, n=N):
    for _ in range(20):
        read_once()
    t0 = time.perf_counter()
    for _ in range(n):
        read_once()
    return n / (time.perf_counter() - t0)


def pymodbus_rate(path):
    client = ModbusSerialClient(path, baudrate=BAUD, timeout=1, retries=0)
    if not client.connect():
        sys.exit("pymodbus client could not open " + path)

    def once():
        result = client.read_holding_registers(0, count=COUNT, device_id=1)
        if result.isError() or len(result.registers) != COUNT:
            raise RuntimeError("pymodbus client: %r" % (result,))

    try:
        return rate(once)
    finally:
        client.close()


def minimalmodbus_rate(path):
    inst = minimalmodbus.Instrument(path, 1, close_port_after_each_call=False)
    inst.serial.baudrate = BAUD
    inst.serial.timeout = 1.0

    def once():
        if len(inst.read_registers(0, COUNT, functioncode=3)) != COUNT:
            raise RuntimeError("minimalmodbus: short read")

    try:
        return rate(once)
    finally:
        inst.serial.close()


def main():
    meter = SimMeter(SiteConfig(seed=1, profile="household", day_offset_ms=16 * 3_600_000))
    meter.advance_to(60_000)
    rows = []
    with MeterServer(meter, "generic", baudrate=BAUD) as server:
        turn = Turnaround(server.relay)
        path = server.device_path
        firmware = vm("wire", path, N, BAUD)
        rows.append(("firmware master (MicroPython VM)", firmware["wire_rps"], turn.take()))
        name = "pymodbus %s ModbusSerialClient" % pymodbus.__version__
        rows.append((name, pymodbus_rate(path), turn.take()))
        name = "minimalmodbus %s" % minimalmodbus.__version__
        rows.append((name, minimalmodbus_rate(path), turn.take()))
        no_gap = vm("wire", path, N, BAUD, 0)
        rows.append(("firmware, silence 0 (not conformant)", no_gap["wire_rps"], turn.take()))
    cpu = vm("cpu")

    report(rows, cpu)


def report(rows, cpu):
    print("$ .venv/bin/python bench/bench_rtu.py %d" % N)
    print()
    title = "Requests per second over a pty against the simulated meter (pymodbus %s server)"
    print(title % pymodbus.__version__)
    print("read 48 holding registers, unit 1; %d requests each after 20 warm-up" % N)
    print()
    print("%-36s %9s %9s %12s" % ("client", "req/s", "ms/req", "server ms"))
    for name, rps, turn_us in rows:
        print("%-36s %9.0f %9.2f %12.2f" % (name, rps, 1000 / rps, turn_us / 1000))
    fw_rps, fw_turn = rows[0][1], rows[0][2]
    best_peer = max(rows[1][1], rows[2][1])
    verdict = "met" if fw_rps >= 2 * best_peer else "MISSED"
    print()
    print(
        "goal: firmware >= 2x either peer: %.2fx the faster peer -> %s"
        % (fw_rps / best_peer, verdict)
    )
    print("server ms: median time from the request reaching the relay to its reply leaving it")
    print("  (relay, pymodbus server, register fill): the same work for every client")
    gap_ms = silence_us(BAUD) / 1000
    rest = 1000 / fw_rps - gap_ms - fw_turn / 1000
    print(
        "firmware ms/req = %.2f RTU silence before each request (3.5 chars, fixed above" % gap_ms
    )
    print("  19200 baud) + %.2f server + %.2f VM loop, pty and relay" % (fw_turn / 1000, rest))
    floor = gap_ms + fw_turn / 1000
    print(
        "  a master that keeps the silence cannot beat %.0f req/s against this server;"
        % (1000 / floor)
    )
    print("  both peers keep it too (minimalmodbus: max(3.5 chars, 1.75 ms); pymodbus: 1 ms")
    print("  receive polls). The last row drops it, to show the software's own ceiling only.")

    print()
    print("Master CPU per transaction inside the MicroPython VM (unix port on this PC), no I/O:")
    print(
        "  Request(), send, receive the 101-byte reply, CRC, decode 48 registers: %.1f us"
        % cpu["transaction_us"]
    )
    print(
        "  parts: Request() %.1f us, CRC of the reply %.1f us, unpack 48 words %.1f us"
        % (cpu["request_us"], cpu["crc_reply_us"], cpu["unpack_us"])
    )
    chars = int(cpu["request_bytes"] + cpu["reply_bytes"])
    print()
    print("%-8s %14s %14s %10s" % ("baud", "wire time us", "CPU us", "CPU/wire"))
    cpu_us = cpu["transaction_us"]
    for baud in (9600, 115200):
        wire = transmit_us(chars, baud)
        print("%-8d %14d %14.1f %9.2f%%" % (baud, wire, cpu_us, 100 * cpu_us / wire))
    share = 100 * cpu_us / transmit_us(chars, 115200)
    print("wire time: %d characters of 11 bits (request + reply), silences not counted" % chars)
    print(
        "goal: CPU <= 5%% of wire time at 115200: %.2f%% -> %s"
        % (share, "met" if share <= 5 else "MISSED")
    )


if __name__ == "__main__":
    main()
