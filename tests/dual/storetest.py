# Helpers for the record store and error log tests, on both runtimes: scratch directories,
# raw file surgery, and a RAM block device that can lose power after N block writes.
import os

from shared.record import Record

_counter = [0]


def fresh_dir(tag):
    """A new empty directory under /tmp (MicroPython has no tempfile)."""
    _counter[0] += 1
    name = "/tmp/netmeter-%s-%s-%d" % (
        tag,
        "".join("%02x" % b for b in os.urandom(4)),
        _counter[0],
    )
    os.mkdir(name)
    return name


def rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:
            rmtree(p)
        else:
            os.remove(p)
    os.rmdir(path)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def seg_path(root, first):
    return "%s/%010d.seg" % (root, first)


def record(seq, a_plus=None):
    """A record with every field set from seq, so any two records differ."""
    return Record(
        seq,
        1764403200 + 900 * seq,
        900,
        a_plus=1000 + seq if a_plus is None else a_plus,
        a_minus=seq * 3,
        q1=seq,
        q2=2 * seq,
        q3=3 * seq,
        q4=4 * seq,
        pulses_import=seq + 7,
        pulses_export=seq + 1,
    )


def fill(store, first, last):
    out = []
    for seq in range(first, last + 1):
        out.append(store.append(record(seq)))
    return out


_EIO = -5  # littlefs's LFS_ERR_IO: MicroPython passes a negative return on as the error


class RamBlockDevice:
    """A block device in RAM for os.VfsLfs2 (extended interface: offset writes, ioctl 6
    erase). After cut_after block operations it fails every operation, like a board losing
    power: of the cut program only half reaches the "flash", of later ones nothing."""

    def __init__(self, block_size, blocks, data=None):
        self.block_size = block_size
        self.blocks = blocks
        self.data = data if data is not None else bytearray(block_size * blocks)
        self.cut_after = None
        self.dead = False
        self.torn = True
        self.ops = 0
        self.bytes_written = 0
        self.erases = 0

    def _cut_now(self, start=None, buf=None):
        """True if power is gone for this operation (and, for the one it cuts, half of a
        program lands). Returning an error code, not raising, keeps the VM quiet."""
        if self.dead:
            return True
        if self.cut_after is not None and self.ops >= self.cut_after:
            self.dead = True  # from here on nothing reaches the flash
            if buf is not None and self.torn:
                half = len(buf) // 2
                self.data[start : start + half] = buf[:half]
            return True
        self.ops += 1
        return False

    def readblocks(self, block, buf, offset=0):
        if self.dead:
            return _EIO
        start = block * self.block_size + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            offset = 0
        start = block * self.block_size + offset
        if self._cut_now(start, buf):
            return _EIO
        self.data[start : start + len(buf)] = buf
        self.bytes_written += len(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            if self._cut_now():
                return _EIO
            self.erases += 1
            start = arg * self.block_size
            self.data[start : start + self.block_size] = b"\xff" * self.block_size
            return 0
        return 0
