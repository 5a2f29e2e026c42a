"""Read ELF section headers with pyelftools into plain frozen dataclasses.

Only headers are kept: section bytes stay in the file and are read (or streamed) on
demand with :func:`read_range`, so a 64 MiB program never sits in memory twice.

:func:`read_elf` also performs the sanity checks the Xous tools never did: the file must
be an ELF, 32-bit, little-endian, RISC-V, an executable, and every section with file
contents must lie inside the file. Each failure is a :class:`FormatError` naming the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_SH_TYPE_BASE

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.executable import ELF_MAGIC

# What pyelftools can raise on damaged input (it wraps most as ELFParseError).
_PARSE_ERRORS = (ELFError, ConstructError, struct.error, ValueError, KeyError, IndexError,
                 AssertionError, UnicodeDecodeError, OSError)

SHT_NOBITS = 8
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
EM_RISCV = 243


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
        try:
            return _read(p, fh, file_size)
        except FormatError:
            raise
        except _PARSE_ERRORS as exc:
            raise FormatError(f"malformed ELF file ({type(exc).__name__}: {exc})",
                              path=p) from exc


def _read(p: Path, fh: BinaryIO, file_size: int) -> ElfImage:
    elf = ELFFile(fh)
    if elf.elfclass != 32:
        raise FormatError("not an ELF32 file (Xous targets RV32)", path=p, field="EI_CLASS",
                          value=f"ELFCLASS{elf.elfclass}")
    if not elf.little_endian:
        raise FormatError("not a little-endian ELF", path=p, field="EI_DATA", value="ELFDATA2MSB")
    machine = elf.header["e_machine"]
    if machine != "EM_RISCV" and machine != EM_RISCV:
        raise FormatError("not a RISC-V ELF", path=p, field="e_machine", value=str(machine))
    etype = elf.header["e_type"]
    if etype != "ET_EXEC":
        raise FormatError("not an executable ELF (link it first)", path=p, field="e_type",
                          value=str(etype))
    sections = []
    for i, sec in enumerate(elf.iter_sections()):
        h = sec.header
        s = ElfSection(
            index=i,
            name=sec.name,
            sh_type=_sh_type(h["sh_type"]),
            flags=int(h["sh_flags"]),
            addr=int(h["sh_addr"]),
            offset=int(h["sh_offset"]),
            size=int(h["sh_size"]),
            addralign=int(h["sh_addralign"]),
        )
        if i and not s.nobits and s.offset + s.size > file_size:
            raise FormatError(
                f"section {s.name!r} runs past the end of the file ({file_size} bytes)",
                path=p, field="sh_offset+sh_size", value=s.offset + s.size)
        sections.append(s)
    return ElfImage(path=p, entry=int(elf.header["e_entry"]), sections=tuple(sections))


def _sh_type(value: object) -> int:
    if isinstance(value, int):
        return value
    return int(ENUM_SH_TYPE_BASE.get(str(value), 0x7FFFFFFF))


def read_range(path: str | Path, offset: int, size: int) -> bytes:
    """Return ``size`` bytes of ``path`` from ``offset``; FormatError if the file is short."""
    with Path(path).open("rb") as fh:
        fh.seek(offset)
        data = fh.read(size)
    if len(data) != size:
        raise FormatError("file shorter than its section headers say", path=path,
                          field="offset", value=offset)
    return data
