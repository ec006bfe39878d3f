# VM side of bench/bench_rtu.py. Prints "key value" lines.
#   mpy_rtu.py cpu                      CPU of the master per transaction, no I/O
#   mpy_rtu.py wire PATH N BAUD [GAP]   N reads of the generic map's poll over the pty;
#                                       GAP (us) replaces the RTU silence (bench only)
import struct
import sys
import time

from netmeter.rtu import Failure, Reply, Request, RtuMaster, Send
from shared.crc import crc16_modbus

UNIT = 1
FN = 3
ADDRESS = 0
COUNT = 48  # the generic map's one read


def reply_frame(count):
    body = struct.pack(">BBB", UNIT, FN, 2 * count)
    body += struct.pack(">%dH" % count, *[(i * 2654435761) & 0xFFFF for i in range(count)])
    crc = crc16_modbus(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def per_call_us(fn, n):
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) / n


def cpu(n=3000):
    reply = reply_frame(COUNT)
    master = RtuMaster(115200, 500000, 0)
    clock = [0]

    def transaction():
        now = clock[0] = clock[0] + 100000  # past the silence: poll sends at once
        master.submit(Request(UNIT, FN, ADDRESS, COUNT))  # encode + CRC of the request
        event = master.poll(now)
        assert isinstance(event, Send)
        master.receive(reply, now)
        event = master.poll(now)  # CRC of the reply, decode of 48 registers
        assert isinstance(event, Reply)

    transaction()
    print("transaction_us", per_call_us(transaction, n))
    print("request_us", per_call_us(lambda: Request(UNIT, FN, ADDRESS, COUNT), n))
    print("crc_reply_us", per_call_us(lambda: crc16_modbus(reply), n))
    fmt = ">%dH" % COUNT
    print("unpack_us", per_call_us(lambda: struct.unpack(fmt, reply[3:-2]), n))
    print("request_bytes", len(Request(UNIT, FN, ADDRESS, COUNT).frame))
    print("reply_bytes", len(reply))


def wire(path, n, baud, gap_us=None):
    from boards.drivers.pty import PtyRs485

    port = PtyRs485(path, baud)
    master = RtuMaster(baud, 500000, 0)
    if gap_us is not None:
        master.silence_us = gap_us  # not Modbus-conformant: shows the software's own ceiling
    last = [time.ticks_us()]
    mono = [0]

    def now_us():
        t = time.ticks_us()
        mono[0] += time.ticks_diff(t, last[0])
        last[0] = t
        return mono[0]

    def one():
        master.submit(Request(UNIT, FN, ADDRESS, COUNT))
        while True:
            data = port.read()
            now = now_us()
            if data:
                master.receive(data, now)
            event = master.poll(now)
            if isinstance(event, Send):
                port.write(event.frame)
            elif isinstance(event, Reply):
                return
            elif isinstance(event, Failure):
                raise event.error

    for _ in range(20):  # warm-up
        one()
    t0 = now_us()
    for _ in range(n):
        one()
    elapsed = now_us() - t0
    print("wire_requests", n)
    print("wire_seconds", elapsed / 1e6)
    print("wire_rps", n * 1e6 / elapsed)
    print("wire_failures", master.counters.failures)


if sys.argv[1] == "cpu":
    cpu()
else:
    wire(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *[int(a) for a in sys.argv[5:]])
