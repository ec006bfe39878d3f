"""Bad input at volume for the host link: generated frames against the firmware in the VM.

Frames are generated here (seeded, so a failure is repeatable) and fed in batches to the
firmware's LinkServer over a real App and record store inside the MicroPython VM
(tests/mpy/fuzz_link.py), which checks after every batch that the board still answers INFO
and that nothing it holds changed. A smaller count goes through the simulated board's real
console pty (tests/test_fuzz.py). `make fuzz` runs the full count:

    python tests/fuzzlink.py --frames 100000
"""

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time
from binascii import b2a_base64
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "firmware")]

from shared import auth  # noqa: E402
from shared import linkproto as lp  # noqa: E402
from shared.crc import crc32  # noqa: E402
from shared.frame import MARKER, MAX_BODY, MAX_LINE, VERSION, encode  # noqa: E402

KEY = bytes(range(7, 39))
COMMANDS = list(lp.COMMAND_NAMES)


def raw_payload(rid, code, body, version=VERSION):
    head = struct.pack("<BHB", version, rid, code)
    return head + body + struct.pack("<I", crc32(body, crc32(head)))


def line(raw):
    return MARKER + b2a_base64(raw)[:-1] + b"\n"


class FrameFuzzer:
    """Generates one bad (or harmless) console chunk at a time; kinds are listed in KINDS.

    Signed frames use the device's key only with arguments the device must refuse, so no
    generated frame may change what the board holds; `counter` rises with each of them."""

    KINDS = (
        "random_bytes",
        "random_line",
        "bad_body_valid_crc",
        "command_bad_body",
        "bad_tag",
        "mutated",
        "mutated_recrc",
        "truncated",
        "oversized",
        "wrong_version",
        "signed_bad_args",
        "replay",
        "reads",
    )

    def __init__(self, seed, key=KEY):
        self.rng = random.Random(seed)
        self.key = key
        self.counter = 1000
        self.signed = []  # frames signed earlier, for replays
        self.kinds = dict.fromkeys(self.KINDS, 0)

    def frame(self):
        kind = self.rng.choice(self.KINDS)
        self.kinds[kind] += 1
        return getattr(self, kind)()

    def _body(self, n=None):
        rng = self.rng
        n = rng.choice((0, 1, 2, 4, 5, 8, 16, 64, rng.randrange(MAX_BODY + 1))) if n is None else n
        return rng.randbytes(n)

    def _valid(self):
        """A frame a host could send (reads, or a signed request the device must refuse)."""
        rng = self.rng
        code = rng.choice((lp.INFO, lp.STATUS, lp.PULL, lp.GET_CONFIG, lp.LOG, lp.TRACE, 0))
        if code == 0:
            return self.signed_bad_args()
        body = struct.pack("<IB", rng.randrange(12), rng.randrange(40)) if code == lp.PULL else b""
        return encode(rng.randrange(0x10000), code, body)

    def random_bytes(self):
        rng = self.rng
        data = bytearray(rng.randbytes(rng.randrange(1, 2000)))
        for _ in range(rng.randrange(3)):  # a marker or a line end now and then
            at = rng.randrange(len(data))
            data[at : at + 3] = rng.choice((b"#NM", b"\n", b"\r\n", b"#"))
        return bytes(data)

    def random_line(self):
        return line(self._body())

    def bad_body_valid_crc(self):
        rng = self.rng
        return line(raw_payload(rng.randrange(0x10000), rng.randrange(256), self._body()))

    def command_bad_body(self):
        rng = self.rng
        code = rng.choice((lp.INFO, lp.STATUS, lp.PULL, lp.GET_CONFIG, lp.LOG, lp.TRACE))
        body = self._body()
        if code == lp.PULL and rng.random() < 0.5:
            body = struct.pack("<IB", rng.randrange(1 << 32), rng.randrange(256))
        return line(raw_payload(rng.randrange(0x10000), code, body))

    def bad_tag(self):
        # An authenticated command with a well-formed body and a wrong tag (or key).
        rng = self.rng
        code = rng.choice(lp.AUTHENTICATED)
        args = {lp.ACK: struct.pack("<I", rng.randrange(1 << 32)),
                lp.SET_TIME: struct.pack("<Q", rng.randrange(1 << 64)),
                lp.RESET_NET: b"",
                lp.PUT_CONFIG: b'{"poll_period_s": 5}'}[code]  # fmt: skip
        rid = rng.randrange(0x10000)
        counter = rng.choice((0, self.counter + 1, rng.randrange(1 << 32)))
        key = rng.choice((rng.randbytes(32), None))
        if key is None:  # right key, tag altered or truncated
            body = bytearray(auth.signed_body(self.key, rid, code, counter, args))
            if rng.random() < 0.5 and body:
                body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
            else:
                body = body[: rng.randrange(len(body))]  # strictly shorter
            body = bytes(body)
        else:
            body = auth.signed_body(key, rid, code, counter, args)
        return line(raw_payload(rid, code, body))

    def _mutate(self, data):
        rng = self.rng
        data = bytearray(data)
        for _ in range(rng.randrange(1, 5)):
            op = rng.randrange(4)
            at = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                data[at:at] = rng.randbytes(rng.randrange(1, 8))
            elif op == 2:
                del data[at : at + rng.randrange(1, 8)]
            else:
                data[at:at] = data[: rng.randrange(1, 16)]
        return bytes(data)

    def mutated(self):
        return self._mutate(self._valid())

    def mutated_recrc(self):
        # The payload mutated, then a fresh CRC: the frame layer accepts it, the body is bad.
        rng = self.rng
        good = self._valid()
        from binascii import a2b_base64

        raw = a2b_base64(good[len(MARKER) : -1])[:-4]
        raw = self._mutate(raw) if raw else rng.randbytes(4)
        if len(raw) < 4:
            raw += bytes(4 - len(raw))
        raw = bytes([VERSION]) + raw[1:]
        return line(raw + struct.pack("<I", crc32(raw)))

    def truncated(self):
        good = self._valid()
        return good[: self.rng.randrange(len(good))]

    def oversized(self):
        rng = self.rng
        n = rng.choice((MAX_LINE + 1, MAX_LINE + 4, rng.randrange(MAX_LINE, 6 * MAX_LINE)))
        return MARKER + bytes(rng.choice(b"ABCDabcd0123+/") for _ in range(n)) + b"\n"

    def wrong_version(self):
        rng = self.rng
        version = rng.choice((0, 2, 255, rng.randrange(256)))
        if version == VERSION:
            version = 0
        code = rng.randrange(256)
        return line(raw_payload(rng.randrange(0x10000), code, self._body(), version))

    def signed_bad_args(self):
        """Right key, fresh counter, arguments the device must refuse (nothing may change)."""
        rng = self.rng
        code = rng.choice((lp.ACK, lp.SET_TIME, lp.PUT_CONFIG, lp.PUT_CONFIG))
        if code == lp.ACK:
            args = rng.randbytes(rng.choice((0, 1, 3, 5, 8)))
        elif code == lp.SET_TIME:
            args = rng.randbytes(rng.choice((0, 4, 7, 9, 16)))
        else:
            args = self._bad_config()
        self.counter += rng.randrange(1, 3)
        rid = rng.randrange(0x10000)
        body = auth.signed_body(self.key, rid, code, self.counter, args)
        if len(body) > MAX_BODY:
            body = auth.signed_body(self.key, rid, code, self.counter, args[:900])
        frame = line(raw_payload(rid, code, body))
        self.signed.append(frame)
        del self.signed[:-50]
        return frame

    def _bad_config(self):
        rng = self.rng
        choice = rng.randrange(7)
        if choice == 0:
            return rng.randbytes(rng.randrange(900))  # not UTF-8 / not JSON
        if choice == 1:
            depth = rng.randrange(1, 440)
            return b"[" * depth + b"]" * depth  # deep, but not an object
        if choice == 2:
            return b'{"a":' * 150 + b"1" + b"}" * 150  # deep, unknown key
        if choice == 3:
            return json.dumps(rng.choice((None, 1, "x", [1, 2], 1.5, True))).encode()
        if choice == 4:
            bad = rng.choice((7, 0, -1, 1.5, "15", None, [], 10**30))
            return json.dumps({"poll_period_s": bad}).encode()
        if choice == 5:
            return json.dumps({"no_such_key_%d" % rng.randrange(1000): 1}).encode()
        cfg = {"netting": {"sources": ["power"], "billing": rng.choice(("pulses", "x", 3))}}
        return json.dumps(cfg).encode()

    def replay(self):
        if not self.signed:
            return self.signed_bad_args()
        return self.rng.choice(self.signed)

    def reads(self):
        # Good read requests among the bad: the board must answer them all along.
        return self._valid() if self.rng.random() < 0.8 else encode(1, lp.INFO)


def batches(fuzzer, frames, per_batch):
    """(bytes, count) batches of generated chunks until `frames` chunks are made."""
    made = 0
    while made < frames:
        n = min(per_batch, frames - made)
        yield b"".join(fuzzer.frame() for _ in range(n)), n
        made += n


def run_in_vm(frames, seed=1, per_batch=500, timeout=1800, fuzzer=None):
    """Feed `frames` generated frames to the firmware's link server in the VM; returns a
    summary dict (problem None when the board answered every probe and held its state)."""
    from host.mpy import micropypath, micropython_exe

    fuzzer = fuzzer or FrameFuzzer(seed)
    rng = random.Random(seed + 1)
    parts = [KEY.hex().encode() + b"\n"]
    for data, _ in batches(fuzzer, frames, per_batch):
        chunk = rng.choice((1, 7, 64, 256, 1500, len(data)))
        parts.append(b"B %d %d\n" % (len(data), chunk))
        parts.append(data)
    parts.append(b"E\n")
    # tests/dual for the fake board the fuzzer's App runs on (fakeboard.py).
    env = dict(os.environ, MICROPYPATH=micropypath() + ":" + str(ROOT / "tests" / "dual"))
    started = time.monotonic()
    proc = subprocess.run(
        [micropython_exe(), "-X", "heapsize=4m", str(ROOT / "tests" / "mpy" / "fuzz_link.py")],
        input=b"".join(parts),
        capture_output=True,
        cwd=str(ROOT),
        env=env,
        timeout=timeout,
    )
    lines = [json.loads(x) for x in proc.stdout.decode().splitlines() if x.startswith("{")]
    batches_done = [x for x in lines if "batch" in x]
    problem = next((x["problem"] for x in batches_done if x["problem"]), None)
    expected = -(-frames // per_batch)
    if problem is None and len(batches_done) != expected:
        problem = "the VM stopped after %d of %d batches (exit %d): %s" % (
            len(batches_done),
            expected,
            proc.returncode,
            proc.stderr.decode(errors="replace")[-2000:],
        )
    last = batches_done[-1] if batches_done else {}
    return {
        "frames": frames,
        "batches": len(batches_done),
        "replies": sum(x["replies"] for x in batches_done),
        "stats": last.get("stats"),
        "counter": last.get("counter"),
        "signed_counter": fuzzer.counter,
        "kinds": fuzzer.kinds,
        "problem": problem,
        "wall_s": round(time.monotonic() - started, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=1, help="default: %(default)s")
    parser.add_argument("--configs", action="store_true", help="also the config-file corpus")
    args = parser.parse_args(argv)
    summary = run_in_vm(args.frames, args.seed)
    print(
        "link fuzz: %d frames in %d batches against the firmware in the VM, %d replies, "
        "%.1f s; board stats %s; problem: %s"
        % (
            summary["frames"],
            summary["batches"],
            summary["replies"],
            summary["wall_s"],
            summary["stats"],
            summary["problem"],
        )
    )
    print("kinds: %s" % summary["kinds"])
    failed = summary["problem"] is not None
    if args.configs:
        from fuzzconfig import run_corpus

        report = run_corpus(args.seed)
        print(report["line"])
        failed = failed or bool(report["problems"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
