"""Executable image headers boot loaders read: arm64 ``Image``, arm ``zImage``, PE/COFF, ELF.

arm64 ``Image`` header (Linux ``Documentation/arch/arm64/booting.rst``; Xen's arm64 binary
carries the same), little-endian::

     0  code0, code1 (``MZ`` when the image has an EFI stub)
     8  text_offset     16  image_size (what the image occupies once running, bss included)
    24  flags           32  res2, res3, res4
    56  magic "ARM\\x64" 60  offset of the PE header (EFI stub)

An arm ``zImage`` has the magic word 0x016F2818 (little-endian) at offset 36. A PE/COFF
executable (an EFI application such as ``xen.efi``) starts with the DOS ``MZ`` signature,
an ELF file with ``\x7fELF`` (:mod:`bootproof.builder.elf` reads the rest). Every function
takes a file's first bytes (64 are enough). This module imports nothing heavy: the command
lines load it at start-up.
"""

from __future__ import annotations

import struct

ARM64_MAGIC = b"ARM\x64"
ARM64_MAGIC_OFFSET = 56
ARM64_HEADER_SIZE = 64
ZIMAGE_MAGIC = 0x016F2818
ZIMAGE_MAGIC_OFFSET = 36
PE_MAGIC = b"MZ"
ELF_MAGIC = b"\x7fELF"


def is_arm64_image(head: bytes) -> bool:
    """True when ``head`` carries the arm64 Image magic at offset 56."""
    return head[ARM64_MAGIC_OFFSET : ARM64_MAGIC_OFFSET + 4] == ARM64_MAGIC


def arm64_image_size(head: bytes) -> int:
    """The header's ``image_size`` (0 when ``head`` is not a whole arm64 Image header)."""
    if len(head) < ARM64_HEADER_SIZE or not is_arm64_image(head):
        return 0
    return int(struct.unpack_from("<Q", head, 16)[0])


def is_zimage(head: bytes) -> bool:
    """True when ``head`` carries the arm zImage magic at offset 36."""
    return head[ZIMAGE_MAGIC_OFFSET : ZIMAGE_MAGIC_OFFSET + 4] == ZIMAGE_MAGIC.to_bytes(4, "little")


def is_pe(head: bytes) -> bool:
    """True when ``head`` starts with the DOS/PE ``MZ`` signature."""
    return head[:2] == PE_MAGIC


#: The PE/COFF machine number of arm64 (``IMAGE_FILE_MACHINE_ARM64``).
PE_MACHINE_ARM64 = 0xAA64


def pe_machine(data: bytes) -> int | None:
    """The machine number of a PE/COFF image (``MZ``, then ``PE\\0\\0`` at the offset
    stored at 0x3C), None when ``data`` is not one."""
    if not is_pe(data) or len(data) < 0x40:
        return None
    (off,) = struct.unpack_from("<I", data, 0x3C)
    if data[off : off + 4] != b"PE\0\0" or len(data) < off + 6:
        return None
    return int(struct.unpack_from("<H", data, off + 4)[0])


def is_elf(head: bytes) -> bool:
    """True when ``head`` starts with the ELF magic."""
    return head[:4] == ELF_MAGIC
