# CRC-16/MODBUS (for RTU frames) and CRC-32 (for records and link frames), on both runtimes.
import binascii
from array import array


def _make_table():
    table = array("H", [0] * 256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[i] = crc
    return table


_TABLE = _make_table()


def crc16_modbus(data, crc=0xFFFF):
    """CRC-16/MODBUS: reflected poly 0xA001, init 0xFFFF, no final xor; sent low byte first."""
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc32(data, crc=0):
    """CRC-32 (IEEE 802.3, as zlib): check value of b"123456789" is 0xCBF43926."""
    return binascii.crc32(data, crc) & 0xFFFFFFFF
