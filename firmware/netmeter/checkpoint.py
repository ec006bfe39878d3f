# The app's checkpoint, and carrying the app on from it at boot.
#
# File (fs_root + FILE, written with netmeter.atomic.write_atomic: payload + CRC-32, renamed
# into place): JSON {"acc": the accumulator's state(), "pending": [hex of each encoded
# record closed but not yet appended]}. App.checkpoint writes it every checkpoint_s and at
# every interval close, before it appends the closed records, so a power cut at any instant
# loses nothing: recover() appends what the checkpoint held but the store lacks.
#
# Boot-only, like netmeter.repair: the runner forgets this module after boot (netmeter.heap).
# The writer is App.checkpoint, six lines the running app needs: kept there rather than in
# a module of their own, which would cost the running firmware about 500 bytes of heap.
import json
from binascii import unhexlify

from netmeter.atomic import read_atomic
from netmeter.errlog import CHAIN
from netmeter.netting import make_accumulator
from shared.record import decode

FILE = "/checkpoint.json"


def recover(path, store, netting, errlog):
    """Boot: the accumulator to run with (netmeter.netting, built from netting, the app's
    netting config), carried on from the checkpoint at path after the records it held but
    the store lacks are appended. When the store went on past the checkpoint (or lost its
    tail), the store is trusted: a fresh accumulator goes on from it, and the error log
    says so."""
    acc = make_accumulator(netting)
    payload = read_atomic(path)
    if payload is None:
        acc.seq = store.next_seq or 0
        return acc
    state = json.loads(payload)
    acc.restore(state["acc"])
    for raw in state["pending"]:
        record = decode(unhexlify(raw))
        if store.next_seq is None or record.seq == store.next_seq:
            record.link = bytes(16)
            store.append(record)
    if store.next_seq is not None and store.next_seq != acc.seq:
        errlog.log(0, CHAIN, "checkpoint seq %d, store %d" % (acc.seq, store.next_seq))
        acc = make_accumulator(netting)
        acc.seq = store.next_seq
    return acc
