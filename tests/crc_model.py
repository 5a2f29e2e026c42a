"""CRC-16/X-25 written here from its definition, as the tests' independent model of the
tag checksum (never the project's own implementation)."""

from __future__ import annotations


def crc16_x25_model(data: bytes) -> int:
    """Bit by bit: poly 0x1021 reflected (0x8408), init and xorout 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF
