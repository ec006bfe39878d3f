# The error log: bounded, oldest first, survives a reboot and a torn entry.
import os

from storetest import fresh_dir, read_bytes, rmtree, write_bytes

from netmeter.errlog import (
    CHAIN,
    DETAIL_MAX,
    ENTRY_SIZE,
    MB_GATEWAY_NO_REPLY,
    MB_ILLEGAL_ADDRESS,
    MB_ILLEGAL_VALUE,
    TIMEOUT,
    TORN_RECORD,
    ErrorLog,
    modbus_code,
)


def test_log_is_bounded_and_oldest_first_in_a_fixed_size_file():
    root = fresh_dir("errlog")
    try:
        log = ErrorLog(root + "/errors", capacity=4, holdoff_ms=0)
        assert log.entries() == []
        for i in range(10):
            log.log(1000 * i, TIMEOUT, "read %d" % i)
        got = log.entries()
        assert [e[2] for e in got] == ["read 6", "read 7", "read 8", "read 9"]
        assert got[0] == (6000, "timeout", "read 6", 0, "utc")
        assert os.stat(root + "/errors")[6] == 4 * ENTRY_SIZE
    finally:
        rmtree(root)


def test_log_survives_a_reboot_and_goes_on_numbering():
    root = fresh_dir("errlog")
    try:
        log = ErrorLog(root + "/errors", capacity=4, holdoff_ms=0)
        for i in range(6):
            log.log(i, TIMEOUT, i)
        log = ErrorLog(root + "/errors", capacity=4, holdoff_ms=0)
        log.log(6, TORN_RECORD, "30 bytes")
        assert [e[0] for e in log.entries()] == [3, 4, 5, 6]
        assert log.entries()[-1][1:3] == ("torn_record", "30 bytes")
    finally:
        rmtree(root)


def test_a_torn_entry_is_skipped_and_never_crashes():
    root = fresh_dir("errlog")
    try:
        path = root + "/errors"
        log = ErrorLog(path, capacity=8, holdoff_ms=0)
        for i in range(5):
            log.log(i, TIMEOUT, i)
        data = read_bytes(path)
        write_bytes(path, data[: 4 * ENTRY_SIZE + 20])  # entry 5 cut mid-write
        log = ErrorLog(path, capacity=8, holdoff_ms=0)
        assert [e[0] for e in log.entries()] == [0, 1, 2, 3]
        log.log(9, TIMEOUT, "after")  # lands in the torn slot
        assert [e[0] for e in log.entries()] == [0, 1, 2, 3, 9]
        data = bytearray(read_bytes(path))
        data[ENTRY_SIZE + 10] ^= 0xFF  # a flipped bit in entry 2
        write_bytes(path, bytes(data))
        assert [e[0] for e in ErrorLog(path, capacity=8).entries()] == [0, 2, 3, 9]
        write_bytes(path, b"\x00" * 3)  # a file that is nothing but a tear
        log = ErrorLog(path, capacity=8, holdoff_ms=0)
        assert log.entries() == []
        log.log(1, TIMEOUT)
        assert log.entries() == [(1, "timeout", "", 0, "utc")]
    finally:
        rmtree(root)


def test_a_repeating_code_is_written_once_per_holdoff_with_its_count():
    root = fresh_dir("errlog")
    try:
        log = ErrorLog(root + "/errors", capacity=8, holdoff_ms=60000)
        written = [log.log(t * 1000, TIMEOUT, "unit 1") for t in range(0, 150)]
        assert written.count(True) == 3  # at 0 s, 60 s, 120 s
        assert log.log(150000, MB_ILLEGAL_ADDRESS, "0x48")  # another code is not held back
        got = log.entries()
        assert [(e[0], e[3]) for e in got if e[1] == "timeout"] == [
            (0, 0),
            (60000, 59),
            (120000, 59),
        ]
    finally:
        rmtree(root)


def test_modbus_exceptions_have_named_codes():
    assert modbus_code(0x02) == MB_ILLEGAL_ADDRESS == "mb02_bad_addr"
    assert modbus_code(0x03) == MB_ILLEGAL_VALUE
    assert modbus_code(0x0B) == MB_GATEWAY_NO_REPLY
    assert modbus_code(0x07) == "mb07"


def test_detail_keeps_a_whole_message_and_says_what_its_time_counts_from():
    # 32 bytes cut "seq 0: link does not follow seq -1 (hash chain broken)" before the
    # part that matters; entries logged before the clock was set count from boot.
    class Clock:
        is_set = False

    root = fresh_dir("errlog")
    try:
        clock = Clock()
        log = ErrorLog(root + "/errors", capacity=4, holdoff_ms=0, clock=clock)
        message = "seq 0: link does not follow seq -1 (hash chain broken)"
        log.log(0, CHAIN, message)
        clock.is_set = True
        log.log(1764374400123, TIMEOUT, "x" * 200)
        first, second = ErrorLog(root + "/errors", capacity=4).entries()
        assert first == (0, "chain", message, 0, "boot")
        assert second[0] == 1764374400123 and second[4] == "utc"
        assert second[2] == "x" * DETAIL_MAX and DETAIL_MAX >= 90
        assert os.stat(root + "/errors")[6] == 2 * ENTRY_SIZE
    finally:
        rmtree(root)


def test_a_log_of_64_byte_entries_from_older_firmware_is_not_misread():
    # The old layout's entries fail the new CRC: nothing is shown rather than garbage, and
    # the ring starts over (docs/storage.md).
    import struct

    from shared.crc import crc32

    root = fresh_dir("errlog")
    try:
        old = bytearray(64)
        struct.pack_into("<IQH14s32s", old, 0, 1, 5000, 0, b"timeout", b"read 1")
        struct.pack_into("<I", old, 60, crc32(memoryview(old)[:60]))
        write_bytes(root + "/errors", bytes(old) * 3)
        log = ErrorLog(root + "/errors", capacity=4, holdoff_ms=0)
        assert log.entries() == []
        log.log(7000, TIMEOUT, "new")
        assert [e[2] for e in log.entries()] == ["new"]
    finally:
        rmtree(root)
