# Small files that a power cut leaves either old or new, never half written.
#
# write_atomic writes PATH.tmp (payload + CRC-32), closes it, then renames it onto PATH.
# os.rename onto an existing file replaces it in one step on littlefs and POSIX (both
# tested); where it refuses (FAT), the old file is removed first and read_atomic then falls
# back to PATH.tmp, which is complete because the remove only happens after it is closed.
# The CRC trailer lets read_atomic tell a whole file from a torn one on any filesystem.
import os
import struct

from shared.crc import crc32


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def write_atomic(path, payload):
    """Replace the file at path with payload (bytes) so that a cut leaves old or new."""
    replace_file(path, bytes(payload) + struct.pack("<I", crc32(payload)))


def replace_file(path, data):
    """Replace path with data as is (no CRC trailer: for files others read, config.json):
    the temp file first, then a rename onto path."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)  # one write call
    try:
        os.rename(tmp, path)
    except OSError:
        # A filesystem that will not rename onto an existing file (FAT): remove, then rename.
        # A cut between the two leaves only PATH.tmp, which read_atomic accepts.
        if exists(path):
            os.remove(path)
        os.rename(tmp, path)


def _read_checked(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < 4:
        return None
    payload = data[:-4]
    (stored,) = struct.unpack("<I", data[-4:])
    if stored != crc32(payload):
        return None
    return payload


def read_atomic(path):
    """The payload last written by write_atomic, or None if there is none whole.

    PATH is preferred; PATH.tmp is used only when PATH is missing or torn (a cut during a
    remove-then-rename, or a filesystem that lost PATH), and only if its CRC checks."""
    payload = _read_checked(path)
    if payload is None:
        payload = _read_checked(path + ".tmp")
    return payload


def remove_atomic(path):
    """Remove both PATH and PATH.tmp (missing ones are fine)."""
    for p in (path, path + ".tmp"):
        if exists(p):
            os.remove(p)
