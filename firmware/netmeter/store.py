# Where closed interval records go: an append-only file of fixed-size records on the board.
from shared.record import SIZE, decode


class RecordLog:
    """Appends encoded records to one file and reads them back from any seq onwards."""

    def __init__(self, path):
        self.path = path

    def append(self, record):
        with open(self.path, "ab") as f:
            f.write(record.encode())

    def records(self, from_seq=0):
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            while True:
                data = f.read(SIZE)
                if len(data) < SIZE:
                    return
                record = decode(data)
                if record.seq >= from_seq:
                    yield record
