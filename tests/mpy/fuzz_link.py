# Runs inside the MicroPython VM: the firmware's link server over a real App and record store,
# fed the frames tests/fuzzlink.py generates, in batches read from stdin.
#
# stdin: a key line (hex), then batches: b"B <size> <chunk>\n" + size bytes; b"E\n" ends.
# For each batch the bytes go to LinkServer.receive in pieces of `chunk` bytes (the decoder
# must keep sync across any cut), then a valid INFO probe must be answered, and the state is
# compared with the state before: records (every stored byte), seq range, config file, clock,
# net and the pending flag may change only through a validly signed command, which the
# generator sends only with arguments the device must refuse. One JSON line per batch.
import json
import os
import sys

from fakeboard import fake_hardware

from netmeter.app import App
from netmeter.link import Counter, LinkServer
from netmeter.linkdevice import CONFIG_FILE, AppDevice
from netmeter.poller import PollResult
from shared.auth import parse_key
from shared.crc import crc32
from shared.frame import RESPONSE, Decoder, Frame, encode
from shared.linkproto import INFO

T0 = 1764374400000
POWER = {"p_l1": 400.0, "q_l1": 10.0, "p_l2": -100.0, "q_l2": 0.0, "p_l3": 300.0, "q_l3": 0.0}


class Clock:
    def __init__(self):
        self.ms = T0
        self.is_set = True

    def now_ms(self):
        return self.ms

    def set_ms(self, ms):
        self.ms = ms


def hardware(root):
    hw = fake_hardware(root, take=lambda: (3, 1, 0), clock=Clock(), name="fuzz")
    hw.pulses.totals = lambda: (30, 10, 0)
    return hw


def build(root):
    hw = hardware(root)
    from shared.config import resolve

    config = {"netting": {"sources": ["power"], "billing": "power", "interval_min": 1}}
    settings, regmap = resolve(dict(config, board="unix_sim"))
    app = App(hw, settings, regmap)
    for t in range(0, 6 * 60000 + 1, 10000):  # six records to pull, ack and guard
        r = PollResult(0)
        r.values = POWER
        r.counts = {}
        app.feed(T0 + t, r)
    device = AppDevice(app, hw, {"board": "unix_sim", "poll_period_s": 1}, root)
    return app, hw, device


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def state(app, hw, root):
    store = app.store
    crc = 0
    n = 0
    for raw in store.records(store.first_seq, True):
        crc = crc32(raw, crc)
        n += 1
    return [
        store.first_seq,
        store.next_seq,
        n,
        crc,
        read_file(root + "/" + CONFIG_FILE),
        hw.clock.now_ms(),
        app.acc.net_total,
        bool(getattr(app, "config_pending", False)),
    ]


def main():
    root = "/tmp/netmeter-fuzz-%s" % "".join("%02x" % b for b in os.urandom(4))
    os.mkdir(root)
    stdin = sys.stdin.buffer
    key = parse_key(stdin.readline().decode().strip())
    app, hw, device = build(root)
    server = LinkServer(device, key, Counter(None))
    before = state(app, hw, root)
    print(json.dumps({"ready": True, "records": before[2]}))
    probe_rid = 0
    batch = 0
    while True:
        line = stdin.readline()
        if not line or line.startswith(b"E"):
            break
        _, size, chunk = line.split()
        size, chunk = int(size), max(1, int(chunk))
        data = stdin.read(size)
        replies = 0
        problem = None
        at = 0
        while at < len(data):
            out = server.receive(data[at : at + chunk])
            replies += out.count(b"#NM")
            at += chunk
        probe_rid = (probe_rid + 1) & 0xFFFF
        events = Decoder().feed(server.receive(b"\n" + encode(probe_rid, INFO)))
        answered = [
            e for e in events if isinstance(e, Frame) and e.rid == probe_rid and e.code == RESPONSE
        ]
        if not answered:
            problem = "no answer to INFO after the batch: %r" % (events,)
        now = state(app, hw, root)
        if now != before:
            problem = "state changed: %r -> %r" % (before, now)
        batch += 1
        print(
            json.dumps(
                {
                    "batch": batch,
                    "bytes": len(data),
                    "replies": replies,
                    "stats": server.stats,
                    "counter": server.counter.value,
                    "problem": problem,
                }
            )
        )
        if problem:
            break


main()
