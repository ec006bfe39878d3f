"""A fuzz corpus of config files (JSON and TOML shapes, sizes up to 5 MB, nesting 100,000
deep) through the real `host config validate`, one subprocess each: it must answer with
"<file>: valid" and exit 0, or one line on stderr and exit 1; never a traceback.

The same shapes, where they fit one frame, go to the board as signed PUT_CONFIG bodies
(tests/fuzzlink.py, tests/test_fuzz.py): refused, and the board unchanged.
"""

import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEEP = 100_000
FIVE_MB = 5 * 1024 * 1024

VALID = {
    "poll_period_s": 15,
    "rs485": {"baud": 9600},
    "netting": {"sources": ["registers", "power"], "billing": "registers", "interval_min": 15},
}
VALID_TOML = (
    "poll_period_s = 15\n[rs485]\nbaud = 9600\n[netting]\n"
    'sources = ["registers", "power"]\nbilling = "registers"\ninterval_min = 15\n'
)


def fixed_shapes():
    """(file name, bytes) of the shapes every run includes."""
    yield "deep-array.json", b"[" * DEEP + b"]" * DEEP
    yield "deep-object.json", b'{"a":' * DEEP + b"1" + b"}" * DEEP
    yield "deep-in-meter.json", b'{"meter": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    yield "deep-unclosed.json", b"[" * DEEP
    yield "deep-array.toml", b"a = " + b"[" * DEEP + b"]" * DEEP + b"\n"
    yield "deep-table.toml", b"a = " + b"{b = " * DEEP + b"1" + b"}" * DEEP + b"\n"
    yield "deep-dotted.toml", b"a" + b".a" * DEEP + b" = 1\n"
    yield "big-string.json", b'{"device_id": "' + b"x" * FIVE_MB + b'"}'
    yield "big-list.json", b'{"meter": [' + b"1," * (FIVE_MB // 2 - 8) + b"1]}"
    yield "many-keys.json", json.dumps({"k%d" % i: i for i in range(300_000)}).encode()
    yield "big-string.toml", b'device_id = "' + b"y" * FIVE_MB + b'"\n'
    yield "empty.json", b""
    yield "empty.toml", b""
    yield "comments-only.json", b"// nothing\n# at all\n"
    yield "not-utf8.json", b'{"device_id": "\xff\xfe"}'
    yield "nul.toml", b"poll_period_s = 15\x00\n"
    yield "bom.json", b"\xef\xbb\xbf" + json.dumps(VALID).encode()
    yield "top-list.json", b"[1, 2, 3]"
    yield "top-string.json", b'"poll_period_s"'
    yield "huge-number.json", b'{"poll_period_s": 1' + b"0" * 5000 + b"}"
    yield "huge-number.toml", b"poll_period_s = 1" + b"0" * 5000 + b"\n"
    yield "nan.json", b'{"poll_period_s": NaN}'
    yield "float-period.toml", b"poll_period_s = 15.5\n"
    yield "inf.toml", b"poll_period_s = inf\n"


def mutated(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        at = rng.randrange(len(data))
        op = rng.randrange(3)
        if op == 0:
            data[at] = rng.randrange(256)
        elif op == 1:
            del data[at : at + rng.randrange(1, 5)]
        else:
            data[at:at] = rng.choice((b"[", b"{", b"}", b'"', b",", b"=", b"\n", b"\\u0000"))
    return bytes(data)


def random_shapes(rng, n):
    valid_json = json.dumps(VALID).encode()
    for i in range(n):
        if i % 2:
            yield "mutated-%d.json" % i, mutated(rng, valid_json)
        else:
            yield "mutated-%d.toml" % i, mutated(rng, VALID_TOML.encode())


def corpus(seed=1, n_random=40):
    rng = random.Random(seed)
    yield from fixed_shapes()
    yield from random_shapes(rng, n_random)


def check_file(path):
    """None if the CLI answered as it must for this file, else what it did instead."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "host", "config", "validate", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            cwd=str(ROOT),
        )
    except subprocess.TimeoutExpired:
        return "%s: no answer within 60 s" % path.name
    out, err = proc.stdout, proc.stderr
    if "Traceback" in out + err:
        return "%s: a traceback: %s" % (path.name, err[-300:])
    if proc.returncode == 0:
        if err or not out.strip().endswith(": valid"):
            return "%s: exit 0 but printed %r / %r" % (path.name, out[:200], err[:200])
        return None
    lines = err.splitlines()
    if proc.returncode != 1 or len(lines) != 1 or not lines[0].startswith("host: "):
        return "%s: exit %d with %d stderr lines: %r" % (
            path.name,
            proc.returncode,
            len(lines),
            err[:300],
        )
    return None


def run_corpus(seed=1, n_random=40, directory=None, workers=2, only=None):
    """Write the corpus to directory (a temporary one by default) and check every file
    (or those whose name is in only)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(directory or tmp)
        paths = []
        largest = 0
        for name, data in corpus(seed, n_random):
            if only is not None and name not in only:
                continue
            path = base / name
            path.write_bytes(data)
            paths.append(path)
            largest = max(largest, len(data))
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(check_file, paths))
    problems = [r for r in results if r]
    return {
        "files": len(paths),
        "problems": problems,
        "line": "config fuzz: %d files (largest %.1f MiB, nesting %d deep) through `host config "
        "validate`: %d problems%s"
        % (
            len(paths),
            largest / 2**20,
            DEEP,
            len(problems),
            "".join("\n  " + p for p in problems),
        ),
    }


def put_config_bodies(seed=1, n_random=40, limit=900):
    """The corpus entries that fit one signed PUT_CONFIG frame, and cut-down deep shapes,
    that `host config validate` refuses (a mutation can leave a valid config)."""
    bodies = [data for _, data in corpus(seed, n_random) if len(data) <= limit]
    bodies += [b"[" * 440 + b"]" * 440, b'{"a":' * 150 + b"1" + b"}" * 150, b"[" * limit]
    return [b for b in bodies if not _host_accepts(b)]  # a valid one is rightly written


def _host_accepts(body):
    if str(ROOT) not in sys.path:
        sys.path[:0] = [str(ROOT), str(ROOT / "firmware")]
    from host.configfile import ConfigFileError, validate

    try:
        validate(json.loads(body))
    except (ValueError, ConfigFileError, RecursionError):
        return False
    return True


if __name__ == "__main__":
    report = run_corpus()
    print(report["line"])
    sys.exit(1 if report["problems"] else 0)
