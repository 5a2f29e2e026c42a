"""The Xous args.bin layout model: what an image holds and where.

The builder produces an :class:`XousLayout` while it writes an args.bin, ``inspect``
decodes one from any args.bin, and the boot harness compares it with what the loader model
reports. It is plain data: it prints as a table and round-trips through JSON.

All offsets are byte offsets from the start of args.bin (the ``XArg`` tag, which is the
args base the loader adds ``load_offset`` values to), except those of the swap programs
(:class:`SwapSpace`), which count from the first byte of the swap args block.

Its parts (tags, sections, programs, kernel) are in :mod:`bootproof.builder.xous.layout_parts`,
the swap address space in :mod:`bootproof.builder.xous.swap_space`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootproof.builder.errors import FormatError
from bootproof.builder.fileio import read_json
from bootproof.builder.layout import NamedRange
from bootproof.builder.layout.model import Layout, target_detail
from bootproof.builder.report import hexa, size_text, table
from bootproof.builder.xous.layout_model import xous_model
from bootproof.builder.xous.layout_parts import (
    KERNEL_KEYS,
    Kernel,
    Program,
    TagInfo,
    json_int,
    json_program,
    json_region,
    json_str,
    program_lines,
    tag_table,
)
from bootproof.builder.xous.swap_space import SwapSpace

JSON_FORMAT = "xous-args"
#: The payload layouts of :attr:`XousLayout.layout`.
LAYOUTS = ("aligned", "legacy")


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

    def to_model(self, *, data: bytes | None = None, source: str | None = None,
                 flash_size: int | None = None) -> Layout:
        """This layout in the one layout model (spaces ``args.bin``, ``memory`` and, with a
        read swap args block, ``swap args``; see :mod:`bootproof.builder.xous.layout_model`).
        ``data`` (the args.bin bytes) gives each item its sha256."""
        return xous_model(self, data=data, source=source, flash_size=flash_size)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, path: str | None = None) -> XousLayout:
        """Rebuild a layout from :meth:`to_json` output, or from the layout document
        ``--map`` writes (``format`` ``bootproof-layout``, this output under ``detail``).

        Raises FormatError (field named) when a key is missing or has the wrong type, or
        for a layout document of another target or a newer version (named).
        """
        detail = target_detail(data, "xous", path=path)
        if detail is not None:
            data = detail
        if not isinstance(data, Mapping) or data.get("format") != JSON_FORMAT:
            raise FormatError("not a xous-args layout JSON", field="format",
                              value=data.get("format") if isinstance(data, Mapping) else None)
        try:
            ram = json_region(data["ram"])
            return cls(
                layout=json_str(data["layout"]),
                arg_size_words=json_int(data["arg_size_words"]),
                file_size=json_int(data["file_size"]),
                ram=ram,
                regions=tuple(json_region(r) for r in data["regions"]),
                tags=tuple(
                    TagInfo(
                        index=json_int(t["index"]),
                        tag=json_str(t["tag"]),
                        offset=json_int(t["offset"]),
                        size_words=json_int(t["size_words"]),
                        crc16=json_int(t["crc16"]),
                        crc_ok=bool(t["crc_ok"]),
                    )
                    for t in data["tags"]
                ),
                programs=tuple(json_program(p) for p in data["programs"]),
                kernel=Kernel(**{k: json_int(data["kernel"][k]) for k in KERNEL_KEYS}),
                debug=bool(data["debug"]),
                names={int(k): json_str(v) for k, v in data.get("names", {}).items()},
                warnings=tuple(json_str(w) for w in data.get("warnings", [])),
                swap=None if data.get("swap") is None else SwapSpace.from_json(data["swap"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed xous-args layout JSON ({exc!r})") from exc

    @classmethod
    def read(cls, path: Path) -> XousLayout:
        """Read a layout map file (the builder's ``--map``, this version's or an earlier
        one's, or ``inspect --json``).

        Raises InputError when the file cannot be read, FormatError (naming the file) when
        it is not UTF-8 JSON or not a layout.
        """
        data = read_json(path, "the layout map")
        try:
            return cls.from_json(data, path=str(path))
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

