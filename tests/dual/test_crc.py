# CRC check values from docs/facts.md and the CRC-32 standard, on both runtimes.
from shared.crc import crc16_modbus, crc32


def test_crc16_modbus_check_value():
    assert crc16_modbus(b"123456789") == 0x4B37


def test_crc16_modbus_example_frame_from_facts():
    frame = bytes([0x01, 0x03, 0x00, 0x00, 0x00, 0x01])
    crc = crc16_modbus(frame)
    assert bytes([crc & 0xFF, crc >> 8]) == bytes([0x84, 0x0A])


def test_crc16_of_frame_with_its_crc_is_zero():
    assert crc16_modbus(bytes([0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A])) == 0


def test_crc32_check_value():
    assert crc32(b"123456789") == 0xCBF43926


def test_crc32_is_incremental():
    assert crc32(b"56789", crc32(b"1234")) == crc32(b"123456789")
