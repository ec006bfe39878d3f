"""What a board already is, read before a deploy overwrites anything: the device id its
records are chained under, and how many of them no host has acknowledged.

One `mpremote exec` of PROBE reads config.json, the store's state file and the first and last
record of the store's segment files (docs/storage.md), and prints one line. Any failure of
that read (mpremote timing out, the board resetting, a file that exists but cannot be read)
is a DeployError: a deploy never guesses an identity from a read that failed.
"""

import json
from pathlib import Path

from host.errors import DeployError
from shared.record import SIZE, RecordError, chain_link, decode, genesis_link, record_link

MARK = "NETMETER-PROBE "

# Runs on the board (MicroPython or CircuitPython) in mpremote's raw REPL. A missing file is
# None (errno 2, ENOENT); any other error is "ERR ...", which the host refuses to read past.
# uid: the chip id as the board modules make it (boards.unique_id, feather_rp2040_cp).
PROBE = r"""
import os, sys, json, binascii
def _h(p, at=0, n=-1):
    try:
        f = open(p, 'rb')
    except OSError as e:
        return None if e.args[0] == 2 else 'ERR %s: %s' % (p, e)
    try:
        if at:
            f.seek(at)
        return binascii.hexlify(f.read(n) if n >= 0 else f.read()).decode()
    finally:
        f.close()
def _probe():
    d = {'config': _h('config.json'), 'segs': [], 'first': None, 'last': None}
    d['key'] = _h('link.key')
    d['state'] = _h('records/state')
    if d['state'] is None:
        d['state'] = _h('records/state.tmp')
    try:
        segs = sorted(n for n in os.listdir('records') if n.endswith('.seg'))
    except OSError as e:
        segs = [] if e.args[0] == 2 else ['ERR records: %s' % e]
    d['segs'] = segs
    if segs and not segs[0].startswith('ERR'):
        d['first'] = _h('records/' + segs[0], 0, @SIZE@)
        size = os.stat('records/' + segs[-1])[6] // @SIZE@ * @SIZE@
        if size:
            d['last'] = _h('records/' + segs[-1], size - @SIZE@, @SIZE@)
    d['uid'] = None
    try:
        import machine
        d['uid'] = binascii.hexlify(machine.unique_id()).decode()
    except Exception:
        try:
            import microcontroller
            d['uid'] = binascii.hexlify(bytes(microcontroller.cpu.uid)).decode()
        except Exception:
            pass
    m = sys.modules.get('maintenance')
    if m is not None:
        m.extend()  # a window opened long ago: the deploy gets the full 10 minutes
    print('@MARK@' + json.dumps(d))
_probe()
""".replace("@SIZE@", str(SIZE)).replace("@MARK@", MARK)

_STATE_VERSION = 1  # records/state: version byte, then ack_next (uint32 LE), ... (store.py)


class BoardIdentity:
    """What the probe found. chain_id: the id the stored records are chained under (proven
    from seq 0's link when the board still holds it), or the id the firmware runs with;
    None for a board with no config and no records. unsynced: records no host acknowledged."""

    def __init__(self, board_name, config, chain_id, proven, records, unsynced, first_seq):
        self.link_key = None  # the board's link key (bytes), if link.key holds one
        self.board_name = board_name
        self.config = config
        self.chain_id = chain_id
        self.proven = proven
        self.records = records
        self.unsynced = unsynced
        self.first_seq = first_seq

    @property
    def is_new(self):
        return self.config is None and not self.records


def parse_probe(output, device):
    """The probe's dict from mpremote's output; DeployError when it is not there whole."""
    for line in output.splitlines():
        if line.startswith(MARK):
            try:
                found = json.loads(line[len(MARK) :])
            except ValueError:
                break
            for key in ("config", "state", "first", "last", "key"):
                if isinstance(found.get(key), str) and found[key].startswith("ERR"):
                    raise DeployError(
                        "could not read %s on %s (%s): nothing was changed; check the board "
                        "and run the deploy again" % (key, device, found[key][4:])
                    )
            for name in found.get("segs", []):
                if name.startswith("ERR"):
                    raise DeployError("could not list the records on %s (%s): nothing was "
                                      "changed; check the board and run the deploy again"
                                      % (device, name[4:]))  # fmt: skip
            return found
    raise DeployError(
        "could not read the board's identity on %s (no answer from the probe): nothing was "
        "changed; check that it is a MicroPython board and run the deploy again" % device
    )


def identify(found, device):
    """BoardIdentity from the probe's dict."""
    config = None
    if found.get("config") is not None:
        text = bytes.fromhex(found["config"]).decode("utf-8", "replace")
        try:
            config = json.loads(text)
        except ValueError:
            config = None
        if not isinstance(config, dict):
            config = {}  # unreadable as a config: the firmware boots without its device_id
    board_name = (config or {}).get("board")
    # The id the firmware runs with (netmeter.app): config's device_id, else the chip's
    # unique id, else the board's name.
    running_id = (config or {}).get("device_id") or found.get("uid") or board_name
    first = last = None
    try:
        if found.get("first"):
            first = decode(bytes.fromhex(found["first"]))
        if found.get("last"):
            last = decode(bytes.fromhex(found["last"]))
    except (RecordError, ValueError) as exc:
        raise DeployError(
            "the board's stored records cannot be read (%s): nothing was changed; sync what "
            "can be synced (`host sync`) before deploying" % exc
        ) from None
    if first is None or last is None:
        identity = BoardIdentity(board_name, config, running_id, False, 0, 0, None)
        identity.link_key = _link_key(found.get("key"))
        return identity
    records = last.seq + 1 - first.seq
    ack_next = _ack_next(found.get("state"))
    unsynced = max(0, last.seq + 1 - max(ack_next, first.seq))
    chain_id, proven = running_id, False
    if first.seq == 0:
        raw = bytes.fromhex(found["first"])
        for candidate in (running_id, (config or {}).get("device_id"), found.get("uid"),
                          board_name):  # fmt: skip
            if candidate and chain_link(genesis_link(candidate), raw) == record_link(raw):
                chain_id, proven = candidate, True
                break
    identity = BoardIdentity(board_name, config, chain_id, proven, records, unsynced, first.seq)
    identity.link_key = _link_key(found.get("key"))
    return identity


def _link_key(file_hex):
    """The key in link.key (hex text), or None when there is none or it is not a key."""
    if not file_hex:
        return None
    try:
        return bytes.fromhex(bytes.fromhex(file_hex).decode().strip()) or None
    except (ValueError, UnicodeDecodeError):
        return None


def _ack_next(state_hex):
    if not state_hex:
        return 0
    data = bytes.fromhex(state_hex)
    if len(data) < 9 or data[0] != _STATE_VERSION:
        return 0
    return int.from_bytes(data[1:5], "little")


def probe_directory(root):
    """The probe's dict read from a board's filesystem mounted here (a CIRCUITPY drive):
    the same files as PROBE, so identify() decides the same way for both routes. The chip id
    is not on the drive: a board without a device_id in its config is named by its records."""
    root = Path(root)

    def read(name, at=0, n=-1):
        try:
            with open(root / name, "rb") as f:
                f.seek(at)
                return (f.read(n) if n >= 0 else f.read()).hex()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeployError(
                "could not read %s on %s (%s): nothing was changed" % (name, root, exc)
            ) from None

    found = {"config": read("config.json"), "key": read("link.key"), "uid": None}
    found["state"] = read("records/state")
    if found["state"] is None:
        found["state"] = read("records/state.tmp")
    records = root / "records"
    segs = sorted(p.name for p in records.glob("*.seg")) if records.is_dir() else []
    found.update(segs=segs, first=None, last=None)
    if segs:
        found["first"] = read("records/" + segs[0], 0, SIZE)
        size = (records / segs[-1]).stat().st_size // SIZE * SIZE
        if size:
            found["last"] = read("records/" + segs[-1], size - SIZE, SIZE)
    return found


def read_identity(device, mpremote):
    """Probe the board at device with mpremote(device, *args, timeout=...)."""
    return identify(parse_probe(mpremote(device, "exec", PROBE, timeout=60), device), device)


def choose_device_id(identity, requested, force, device):
    """The device id to deploy with: the one the board has, unless requested differs; a
    change that would strand unsynced records is a DeployError unless force."""
    current = identity.chain_id
    if not requested or requested == current:
        return current
    if identity.unsynced and not force:
        raise DeployError(
            "%d unsynced records on %s are chained under %r; deploying as %r would strand "
            "them: run `host sync --device %s` first, or pass --force (they stay on the board; "
            "`host sync` takes them under the new id where its history proves their chain, "
            "else quarantines them until `host sync --accept-break`)"
            % (identity.unsynced, device, current, requested, device)
        )
    return requested
