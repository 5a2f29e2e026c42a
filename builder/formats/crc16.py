"""CRC-16/X-25 (also called CRC-16/IBM-SDLC).

Reflected polynomial 0x8408 (0x1021 reflected), init 0xFFFF, reflected input and output,
final XOR 0xFFFF. Check value: ``crc16_x25(b"123456789") == 0x906E``.
"""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


_TABLE = _make_table()


def crc16_x25(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """Return the CRC-16/X-25 of ``data``.

    ``crc`` is the raw (not yet complemented) running register: pass the default to start;
    the result is already final-XORed.
    """
    table = _TABLE
    for b in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF
