"""The Xous args.bin layout model: what an image holds and where.

The builder produces an :class:`XousLayout` while it writes an args.bin, ``inspect``
decodes one from any args.bin, and the boot harness compares it with what the loader model
reports. It is plain data: it prints as a table and round-trips through JSON.

All offsets are byte offsets from the start of args.bin (the ``XArg`` tag, which is the
args base the loader adds ``load_offset`` values to), except those of the swap programs
(:class:`SwapSpace`), which count from the first byte of the swap args block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.report import hexa, size_text, table

JSON_FORMAT = "xous-args"
#: The payload layouts of :attr:`XousLayout.layout`.
LAYOUTS = ("aligned", "legacy")

FLAG_WRITE = 0x01
FLAG_NOCOPY = 0x02
FLAG_EXECUTE = 0x04
FLAG_EH_FRAME = 0x08
FLAG_EH_HEADER = 0x10

_FLAG_NAMES = (
    (FLAG_WRITE, "WRITE"),
    (FLAG_NOCOPY, "NOCOPY"),
    (FLAG_EXECUTE, "EXECUTE"),
    (FLAG_EH_FRAME, "EH_FRAME"),
    (FLAG_EH_HEADER, "EH_HEADER"),
)


def flag_names(flags: int) -> tuple[str, ...]:
    """Names of the MiniELF section flag bits set in ``flags`` (unknown bits as hex)."""
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    unknown = flags & ~0x1F
    if unknown:
        names.append(f"0x{unknown:x}")
    return tuple(names)


@dataclass(frozen=True)
class TagInfo:
    """One tag of the tag block.

    ``index`` is its position (0 = XArg), ``offset`` its byte offset in the file,
    ``size_words`` its body length in 32-bit words (header excluded), ``crc16`` the stored
    CRC-16/X-25 of the body and ``crc_ok`` whether it matches the body.
    """

    index: int
    tag: str
    offset: int
    size_words: int
    crc16: int
    crc_ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tag": self.tag,
            "offset": self.offset,
            "size_words": self.size_words,
            "crc16": self.crc16,
            "crc_ok": self.crc_ok,
        }


@dataclass(frozen=True)
class Section:
    """A MiniELF section as recorded in an IniE/IniF tag.

    ``size`` is the 24-bit size as recorded (it includes inter-section padding);
    ``file_offset`` is the absolute offset in args.bin of its bytes, None for NOCOPY.
    """

    vaddr: int
    size: int
    flags: int
    file_offset: int | None

    @property
    def flag_names(self) -> tuple[str, ...]:
        return flag_names(self.flags)

    def to_json(self) -> dict[str, Any]:
        return {
            "vaddr": self.vaddr,
            "size": self.size,
            "flags": self.flags,
            "flag_names": list(self.flag_names),
            "file_offset": self.file_offset,
        }


def place_sections(
    load_offset: int, sections: Iterable[tuple[int, int, int]]
) -> tuple[tuple[Section, ...], int]:
    """Where a program's sections (VA, size, flags) sit in args.bin, as the loader copies them.

    Each section but the NOCOPY ones takes the next ``size`` payload bytes from
    ``load_offset``. Returns the sections and the payload size.
    """
    placed = []
    pos = load_offset
    for vaddr, size, flags in sections:
        if flags & FLAG_NOCOPY:
            placed.append(Section(vaddr, size, flags, None))
        else:
            placed.append(Section(vaddr, size, flags, pos))
            pos += size
    return tuple(placed), pos - load_offset


@dataclass(frozen=True)
class Program:
    """An initial process (``IniE`` copied to RAM, ``IniF`` executed in place, ``IniS``
    paged in from swap).

    ``payload_size`` is the number of payload bytes its sections occupy in args.bin (the
    swap args block for IniS): the sum of the recorded sizes of its non-NOCOPY sections,
    starting at ``load_offset``.
    """

    kind: str
    pid: int
    name: str
    load_offset: int
    entrypoint: int
    payload_size: int
    sections: tuple[Section, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pid": self.pid,
            "name": self.name,
            "load_offset": self.load_offset,
            "entrypoint": self.entrypoint,
            "payload_size": self.payload_size,
            "sections": [s.to_json() for s in self.sections],
        }


@dataclass(frozen=True)
class Kernel:
    """The ``XKrn`` tag: payload = ``text_size`` bytes of text then ``data_size`` of data."""

    load_offset: int
    text_offset: int
    text_size: int
    data_offset: int
    data_size: int
    bss_size: int
    entrypoint: int

    @property
    def payload_size(self) -> int:
        return self.text_size + self.data_size

    def to_json(self) -> dict[str, Any]:
        return {
            "load_offset": self.load_offset,
            "text_offset": self.text_offset,
            "text_size": self.text_size,
            "data_offset": self.data_offset,
            "data_size": self.data_size,
            "bss_size": self.bss_size,
            "entrypoint": self.entrypoint,
        }


SWAP_PAGE = 4096
SWAP_MAC_LEN = 16


@dataclass(frozen=True)
class SwapSpace:
    """The swap address space (spec addendum §1): the ``Swap`` tag of args.bin and, when
    the swap args block was read too (by create-image, or from a swap image), the
    ``IniS`` programs it holds.

    ``region`` is the swap RAM (its name from the tag, ``Swap`` as create-image writes it);
    ``flash_offset`` where a Precursor loader reads the swap image (create-image writes
    0x21200000 on every platform); ``key_zero`` whether the tag's 32-byte key is all zero
    (as create-image writes it: the image is encrypted with the zero key).
    ``args_size`` is the length of the swap args block, None when it was not read;
    ``programs`` the IniS programs (empty when not read), their PIDs following args.bin's
    IniE/IniF programs, their ``load_offset`` and section ``file_offset`` counted from the
    first byte of the swap args block.
    """

    region: NamedRange
    flash_offset: int
    key_zero: bool
    args_size: int | None = None
    programs: tuple[Program, ...] = ()

    @property
    def pages(self) -> int:
        """Pages of swap RAM the runtime tracks: ``size / 4096`` (the reference's
        ``Runtime will also require N bytes to track swap``)."""
        return self.region.size // SWAP_PAGE

    @property
    def usable(self) -> int:
        """Bytes of swap RAM left for pages once the MAC area (16 bytes per page, rounded
        up to pages) is taken (spec addendum §1.9 step 7)."""
        macs = -(-(self.pages * SWAP_MAC_LEN) // SWAP_PAGE) * SWAP_PAGE
        return (self.region.size & ~(SWAP_PAGE - 1)) - macs

    def to_json(self) -> dict[str, Any]:
        return {
            **self.region.to_json(),
            "flash_offset": self.flash_offset,
            "key_zero": self.key_zero,
            "pages": self.pages,
            "usable": self.usable,
            "args_size": self.args_size,
            "programs": [p.to_json() for p in self.programs],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SwapSpace:
        """Rebuild from :meth:`to_json` (``pages`` and ``usable`` are derived, not read)."""
        size = d.get("args_size")
        return cls(
            region=_region(d),
            flash_offset=_int(d["flash_offset"]),
            key_zero=bool(d["key_zero"]),
            args_size=None if size is None else _int(size),
            programs=tuple(_program(p) for p in d.get("programs", [])),
        )

    def to_table(self) -> list[str]:
        """The report's swap section (lines)."""
        r = self.region
        out = [
            f"Swap {r.name!r}: {hexa(r.start)} - {hexa(r.end)} ({size_text(r.size)}), "
            f"{self.pages} pages, {size_text(self.usable)} usable after the MAC area; "
            f"flash_offset {hexa(self.flash_offset)}; key "
            + ("zero" if self.key_zero else "set (not zero)"),
        ]
        if self.args_size is None:
            out.append("  swap args not read (they are in the swap image)")
        else:
            out.append(f"  swap args block: {size_text(self.args_size)}, "
                       f"{len(self.programs)} IniS program(s); offsets below count from "
                       "its first byte")
        out.extend(program_lines(self.programs))
        return out


@dataclass(frozen=True)
class XousLayout:
    """A whole args.bin: tag block, memory map, programs (PID order from 2) and kernel.

    ``layout`` is ``"aligned"`` (2023+ page-aligned payloads) or ``"legacy"`` (2020
    packed payloads). ``names`` maps PID to process name from ``PNam`` (1 = ``"kernel"``);
    empty when the image has no PNam tag. ``swap`` is the swap address space (a ``Swap``
    tag), None without one. ``warnings`` lists anything a loader would reject or a reader
    should know (never fatal here).
    """

    layout: str
    arg_size_words: int
    file_size: int
    ram: NamedRange
    regions: tuple[NamedRange, ...]
    tags: tuple[TagInfo, ...]
    programs: tuple[Program, ...]
    kernel: Kernel
    debug: bool
    names: dict[int, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    swap: SwapSpace | None = None

    @property
    def first_swap_pid(self) -> int:
        """The PID of the first IniS program: they follow the kernel and IniE/IniF ones."""
        return 2 + len(self.programs)

    @property
    def swap_names(self) -> dict[int, str]:
        """What PNam names after the IniE/IniF programs: the IniS programs, by PID."""
        return {pid: name for pid, name in sorted(self.names.items())
                if pid >= self.first_swap_pid}

    @property
    def memory_required(self) -> int:
        """Bytes the runtime needs to track allocations: one byte per page of every region."""
        return sum((r.size + 4095) // 4096 for r in (self.ram, *self.regions))

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``--map`` file, ``inspect --json``); ints stay ints.
        ``swap`` is there only for an image with a Swap tag."""
        out: dict[str, Any] = {
            "format": JSON_FORMAT,
            "layout": self.layout,
            "arg_size_words": self.arg_size_words,
            "file_size": self.file_size,
            "ram": self.ram.to_json(),
            "regions": [r.to_json() for r in self.regions],
            "tags": [t.to_json() for t in self.tags],
            "programs": [p.to_json() for p in self.programs],
            "kernel": self.kernel.to_json(),
            "debug": self.debug,
            "names": {str(k): v for k, v in sorted(self.names.items())},
            "warnings": list(self.warnings),
        }
        if self.swap is not None:
            out["swap"] = self.swap.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> XousLayout:
        """Rebuild a layout from :meth:`to_json` output.

        Raises FormatError (field named) when a key is missing or has the wrong type.
        """
        if not isinstance(data, Mapping) or data.get("format") != JSON_FORMAT:
            raise FormatError("not a xous-args layout JSON", field="format",
                              value=data.get("format") if isinstance(data, Mapping) else None)
        try:
            ram = _region(data["ram"])
            return cls(
                layout=_str(data["layout"]),
                arg_size_words=_int(data["arg_size_words"]),
                file_size=_int(data["file_size"]),
                ram=ram,
                regions=tuple(_region(r) for r in data["regions"]),
                tags=tuple(
                    TagInfo(
                        index=_int(t["index"]),
                        tag=_str(t["tag"]),
                        offset=_int(t["offset"]),
                        size_words=_int(t["size_words"]),
                        crc16=_int(t["crc16"]),
                        crc_ok=bool(t["crc_ok"]),
                    )
                    for t in data["tags"]
                ),
                programs=tuple(_program(p) for p in data["programs"]),
                kernel=Kernel(**{k: _int(data["kernel"][k]) for k in _KERNEL_KEYS}),
                debug=bool(data["debug"]),
                names={int(k): _str(v) for k, v in data.get("names", {}).items()},
                warnings=tuple(_str(w) for w in data.get("warnings", [])),
                swap=None if data.get("swap") is None else SwapSpace.from_json(data["swap"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed xous-args layout JSON ({exc!r})") from exc

    @classmethod
    def read(cls, path: Path) -> XousLayout:
        """Read a layout map file (the builder's ``--map``, ``inspect --json``).

        Raises InputError when the file cannot be read, FormatError (naming the file) when
        it is not UTF-8 JSON or not a layout.
        """
        import json  # only map readers need it: 1.6 ms of a plain create-image otherwise

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read the layout map: {exc.strerror}", path=path) from exc
        except json.JSONDecodeError as exc:
            raise FormatError(f"not JSON: {exc.msg}", path=path, line=exc.lineno) from exc
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                              path=path) from exc
        try:
            return cls.from_json(data)
        except FormatError as exc:
            exc.path = exc.path or str(path)
            raise

    def to_table(self) -> str:
        """A readable multi-section report: tags, memory, programs and their sections."""
        out: list[str] = []
        out.append(
            f"args.bin ({self.layout} layout): {size_text(self.file_size)}, "
            f"tag block {self.arg_size_words} words ({self.arg_size_words * 4} bytes)"
            + (", debug" if self.debug else "")
        )
        out.append("")
        out.append("Tags:")
        out.append(tag_table(self.tags))
        out.append("")
        out.append("Memory:")
        ram = self.ram
        rows: list[list[object]] = [
            ["RAM", ram.name, hexa(ram.start), hexa(ram.end), size_text(ram.size)]
        ]
        rows += [
            ["MREx", r.name, hexa(r.start), hexa(r.end), size_text(r.size)] for r in self.regions
        ]
        out.append(table(["kind", "name", "start", "end", "size"], rows))
        out.append("")
        k = self.kernel
        out.append(
            f"Kernel (PID 1): payload {hexa(k.load_offset)} + {size_text(k.payload_size)}, "
            f"entry {hexa(k.entrypoint)}"
        )
        out.append(
            table(
                ["part", "vaddr", "size", "file offset"],
                [
                    ["text", hexa(k.text_offset), size_text(k.text_size), hexa(k.load_offset)],
                    ["data", hexa(k.data_offset), size_text(k.data_size),
                     hexa(k.load_offset + k.text_size)],
                    ["bss", hexa(k.data_offset + k.data_size), size_text(k.bss_size), "-"],
                ],
            )
        )
        out.extend(program_lines(self.programs))
        if self.swap is not None:
            out.append("")
            out.extend(self.swap.to_table())
            if self.swap.args_size is None and self.swap_names:
                out.append("  IniS programs named by PNam: " + ", ".join(
                    f"PID {pid} {name!r}" for pid, name in self.swap_names.items()))
        if self.warnings:
            out.append("")
            out.append("Warnings:")
            out.extend(f"  {w}" for w in self.warnings)
        return "\n".join(out)


def tag_table(tags: Iterable[TagInfo]) -> str:
    """The report's table of tags: index, fourcc, offset, words, stored CRC, OK/FAIL."""
    return table(["#", "tag", "offset", "words", "crc16", "crc"],
                 [[t.index, t.tag, hexa(t.offset), t.size_words, f"0x{t.crc16:04x}",
                   "OK" if t.crc_ok else "FAIL"] for t in tags])


def program_lines(programs: Iterable[Program]) -> list[str]:
    """Report lines for ``programs``: a heading and a section table each (a program whose
    PID is not known, 0, is shown by its place instead)."""
    out: list[str] = []
    for n, p in enumerate(programs, start=1):
        who = f"PID {p.pid} {p.name!r}" if p.pid else f"#{n} (PID unknown)"
        out.append("")
        out.append(
            f"{p.kind} {who}: payload {hexa(p.load_offset)} + "
            f"{size_text(p.payload_size)}, entry {hexa(p.entrypoint)}"
        )
        out.append(
            table(
                ["vaddr", "size", "flags", "file offset"],
                [
                    [hexa(s.vaddr), size_text(s.size), "|".join(s.flag_names) or "-",
                     "-" if s.file_offset is None else hexa(s.file_offset)]
                    for s in p.sections
                ],
            )
        )
    return out


_KERNEL_KEYS = (
    "load_offset", "text_offset", "text_size", "data_offset", "data_size", "bss_size",
    "entrypoint",
)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {v!r}")
    return v


def _region(d: Mapping[str, Any]) -> NamedRange:
    return NamedRange(_str(d["name"]), AddressRange(_int(d["start"]), _int(d["size"])))


def _program(d: Mapping[str, Any]) -> Program:
    return Program(
        kind=_str(d["kind"]),
        pid=_int(d["pid"]),
        name=_str(d["name"]),
        load_offset=_int(d["load_offset"]),
        entrypoint=_int(d["entrypoint"]),
        payload_size=_int(d["payload_size"]),
        sections=tuple(
            Section(
                vaddr=_int(s["vaddr"]),
                size=_int(s["size"]),
                flags=_int(s["flags"]),
                file_offset=None if s["file_offset"] is None else _int(s["file_offset"]),
            )
            for s in d["sections"]
        ),
    )
