# A configuration's fingerprint, the same on host and board (INFO reports it).


def config_hash(cfg):
    """A short fingerprint of a configuration, the same on host and board: SHA-256 of its
    canonical JSON (sorted keys, no spaces), first 8 bytes in hex."""
    from binascii import hexlify

    from shared.port import sha256

    return hexlify(sha256(canonical_json(cfg).encode()).digest()[:8]).decode()


def canonical_json(value):
    # MicroPython's json.dumps has no sort_keys: write objects in key order ourselves.
    import json

    if isinstance(value, dict):
        items = [json.dumps(str(k)) + ":" + canonical_json(value[k]) for k in sorted(value)]
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([canonical_json(v) for v in value]) + "]"
    return json.dumps(value)
