"""Read the section headers of a Xous ELF (32-bit, little-endian, RISC-V) into frozen dataclasses.

Only headers are kept: section bytes stay in the file and are read (or streamed) on
demand with :func:`read_range`, so a 64 MiB program never sits in memory twice.

:func:`read_elf` also performs the sanity checks the Xous tools never did: the file must
be an ELF, 32-bit, little-endian, RISC-V, an executable, and every section with file
contents must lie inside the file. Each failure is a :class:`FormatError` naming the file.

The headers are decoded here with :mod:`struct` (the ELF32 header and section header layouts
of the System V gABI), not with pyelftools: importing ``elftools.elf.elffile`` costs
``create-image`` 25 ms (python -X importtime), more than reading the headers of 33 programs,
for a file layout that this module needs only 52 + 40 bytes of. The tests check every field
against pyelftools, on real and on damaged files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.executable import ELF_MAGIC

SHT_NOBITS = 8
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
EM_RISCV = 243
ET_EXEC = 2
SHN_XINDEX = 0xFFFF

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")  # Elf32_Ehdr
_SHDR = struct.Struct("<10I")  # Elf32_Shdr
_MACHINES = {0: "EM_NONE", 2: "EM_SPARC", 3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC",
             21: "EM_PPC64", 40: "EM_ARM", 62: "EM_X86_64", 183: "EM_AARCH64",
             243: "EM_RISCV", 258: "EM_LOONGARCH"}
_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}


@dataclass(frozen=True)
class ElfSection:
    """One section header: ``offset`` is ``sh_offset`` (file position of its bytes)."""

    index: int
    name: str
    sh_type: int
    flags: int
    addr: int
    offset: int
    size: int
    addralign: int

    @property
    def nobits(self) -> bool:
        return self.sh_type == SHT_NOBITS

    @property
    def alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    @property
    def write(self) -> bool:
        return bool(self.flags & SHF_WRITE)

    @property
    def execinstr(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class ElfImage:
    """An ELF file's entry point and section headers (in header order, NULL included)."""

    path: Path
    entry: int
    sections: tuple[ElfSection, ...]

    @property
    def stem(self) -> str:
        """The file name without its extension (the process name Xous uses)."""
        return self.path.stem


def read_elf(path: str | Path) -> ElfImage:
    """Read the headers of a 32-bit little-endian RISC-V executable ELF.

    Raises InputError if the file cannot be opened, FormatError (naming the file and the
    offending field and value) if it is not such an ELF or is truncated or malformed.
    """
    p = Path(path)
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise FormatError(f"cannot open ELF file ({exc.strerror})", path=p) from exc
    with fh:
        file_size = p.stat().st_size
        magic = fh.read(4)
        if magic != ELF_MAGIC:
            raise FormatError("not an ELF file", path=p, field="magic", value=magic)
        fh.seek(0)
        return _read(p, fh, file_size)


def _read_at(p: Path, fh: BinaryIO, offset: int, size: int, what: str) -> bytes:
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise FormatError(f"malformed ELF file ({what} truncated: runs past the end of "
                          "the file)", path=p, field="offset", value=offset)
    return data


def _name(fh: BinaryIO, offset: int) -> str:
    """The NUL-terminated name at ``offset``; '' when the file ends before the NUL."""
    fh.seek(offset)
    raw = b""
    while True:
        chunk = fh.read(64)
        head, nul, _ = chunk.partition(b"\0")
        raw += head
        if nul:
            return raw.decode("utf-8", "replace")
        if len(chunk) < 64:
            return ""


def _read(p: Path, fh: BinaryIO, file_size: int) -> ElfImage:
    ident = _read_at(p, fh, 0, 16, "ELF identification")
    if ident[4] != 1:
        value = "ELFCLASS64" if ident[4] == 2 else ident[4]
        raise FormatError("not an ELF32 file (Xous targets RV32)", path=p, field="EI_CLASS",
                          value=value)
    if ident[5] != 1:
        value = "ELFDATA2MSB" if ident[5] == 2 else ident[5]
        raise FormatError("not a little-endian ELF", path=p, field="EI_DATA", value=value)
    (_, etype, machine, _, entry, _, shoff, _, _, _, _, shentsize, shnum,
     shstrndx) = _EHDR.unpack(_read_at(p, fh, 0, _EHDR.size, "ELF header"))
    if machine != EM_RISCV:
        raise FormatError("not a RISC-V ELF", path=p, field="e_machine",
                          value=_MACHINES.get(machine, str(machine)))
    if etype != ET_EXEC:
        raise FormatError("not an executable ELF (link it first)", path=p, field="e_type",
                          value=_TYPES.get(etype, str(etype)))
    headers: list[tuple[int, ...]] = []
    if shoff:
        if shentsize < _SHDR.size:
            raise FormatError("malformed ELF file (section header entries too small)",
                              path=p, field="e_shentsize", value=shentsize)

        def header(i: int) -> tuple[int, ...]:
            return _SHDR.unpack(_read_at(p, fh, shoff + i * shentsize, _SHDR.size,
                                         f"section header {i}"))

        first = header(0)
        count = shnum if shnum else first[5]  # more sections than e_shnum holds: sh_size
        headers = [first, *(header(i) for i in range(1, count))] if count else []
    strtab = 0
    if headers:
        if shstrndx == SHN_XINDEX:
            shstrndx = headers[0][6]  # sh_link of section 0
        names = headers[shstrndx] if shstrndx < len(headers) else header(shstrndx)
        strtab = names[4]
    sections = []
    for i, (name, sh_type, flags, addr, offset, size, _, _, align, _) in enumerate(headers):
        s = ElfSection(index=i, name=_name(fh, strtab + name), sh_type=sh_type, flags=flags,
                       addr=addr, offset=offset, size=size, addralign=align)
        if i and not s.nobits and s.offset + s.size > file_size:
            raise FormatError(
                f"section {s.name!r} runs past the end of the file ({file_size} bytes)",
                path=p, field="sh_offset+sh_size", value=s.offset + s.size)
        sections.append(s)
    return ElfImage(path=p, entry=entry, sections=tuple(sections))


def read_range(path: str | Path, offset: int, size: int) -> bytes:
    """Return ``size`` bytes of ``path`` from ``offset``; FormatError if the file is short."""
    with Path(path).open("rb") as fh:
        fh.seek(offset)
        data = fh.read(size)
    if len(data) != size:
        raise FormatError("file shorter than its section headers say", path=path,
                          field="offset", value=offset)
    return data
