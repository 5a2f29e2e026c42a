"""An args.bin layout in the terms of the one layout model (:mod:`bootproof.builder.layout`).

:meth:`XousLayout.to_model() <bootproof.builder.xous.layout.XousLayout.to_model>` calls
:func:`xous_model`. Target ``xous``; its spaces and items:

* ``args.bin`` (bytes from the file's first byte, the ``XArg`` tag; size: the flash size
  when one is given, else unknown (None: no headroom; the file's size is the space's attr
  ``file_size``)) holds

  - one item per tag, kind ``tag``, named ``tag XArg``, ``tag MREx``... (a fourcc that
    repeats: ``tag IniE #2``, ``#3``...; numbered in tag order), header included (8 bytes
    plus the body), attrs ``crc16``;
  - ``kernel`` (kind ``kernel``): the XKrn payload, text then data; attrs ``entry``,
    ``text``, ``data``, ``bss`` (``vaddr+size`` in hex);
  - one item per IniE/IniF program (kind ``program``), named by its PNam name, else
    ``pid N`` (N from its place: 2 for the first; a loader that derived another PID shows
    in attr ``pid``); attrs ``tag`` (IniE/IniF), ``pid``, ``entry``, ``sections`` (how many) and
    one ``section N``
    (``vaddr+size flags @file offset``) per MiniELF section.

  ``align``: 4096 for the kernel and IniE payloads of the aligned layout (IniF keeps the
  page phase of its first section: no alignment), 4 in the legacy layout and for tags.
  ``sha256``: of the item's bytes, when the file's bytes are given.
* ``memory`` (physical bytes, no known end): the main RAM (kind ``ram``) and each MREx
  region (kind ``region``), named by their fourcc (a name that repeats gets `` #2``...).
* ``swap`` (only with a Swap tag): the swap RAM (kind ``swap``, named by its fourcc; attrs
  ``flash_offset`` and ``key_zero``). A space of its own: on some platforms (bao1x) its
  offset is no CPU address, and elsewhere main RAM ends where it starts.
* ``swap args`` (only when the swap args block was read): its IniS programs (kind
  ``program``, offsets from the block's first byte), named as above; size the block's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Protocol

from bootproof.builder.layout import NamedRange
from bootproof.builder.layout.model import AttrValue, Item, Layout, Space, unique_names
from bootproof.builder.xous.layout_parts import Kernel, Program, TagInfo
from bootproof.builder.xous.swap_space import SwapSpace

PAGE = 4096


class XousLayoutLike(Protocol):
    """What :func:`xous_model` reads of a :class:`~bootproof.builder.xous.layout.XousLayout`
    (a protocol: that module imports this one)."""

    @property
    def layout(self) -> str: ...
    @property
    def file_size(self) -> int: ...
    @property
    def ram(self) -> NamedRange: ...
    @property
    def regions(self) -> tuple[NamedRange, ...]: ...
    @property
    def tags(self) -> tuple[TagInfo, ...]: ...
    @property
    def programs(self) -> tuple[Program, ...]: ...
    @property
    def kernel(self) -> Kernel: ...
    @property
    def debug(self) -> bool: ...
    @property
    def swap(self) -> SwapSpace | None: ...
    def to_json(self) -> dict[str, Any]: ...



def _digest(data: bytes | None, start: int, size: int) -> str | None:
    if data is None or start + size > len(data):
        return None
    return hashlib.sha256(memoryview(data)[start:start + size]).hexdigest()


def _section_attrs(p: Program) -> dict[str, AttrValue]:
    out: dict[str, AttrValue] = {}
    for n, s in enumerate(p.sections):
        where = "-" if s.file_offset is None else f"0x{s.file_offset:x}"
        out[f"section {n}"] = (f"0x{s.vaddr:08x}+0x{s.size:x} "
                               f"{'|'.join(s.flag_names) or '-'} @{where}")
    return out


def _program_items(programs: Iterable[Program], align: int | None,
                   data: bytes | None, first_pid: int) -> list[Item]:
    progs = list(programs)
    names = unique_names(p.name if p.name and p.name != "-" else f"pid {first_pid + n}"
                    for n, p in enumerate(progs))
    return [Item("program", name, p.load_offset, p.payload_size,
                 align if p.kind == "IniE" or align == 4 else None,
                 sha256=_digest(data, p.load_offset, p.payload_size),
                 attrs={"tag": p.kind, "pid": p.pid, "entry": p.entrypoint,
                        "sections": len(p.sections), **_section_attrs(p)})
            for name, p in zip(names, progs, strict=True)]


def xous_model(lay: XousLayoutLike, *, data: bytes | None = None, source: str | None = None,
               flash_size: int | None = None) -> Layout:
    """``lay`` as a :class:`~bootproof.builder.layout.model.Layout` (see the module
    docstring). ``data``: the args.bin bytes, for the items' sha256 (hashed in memory,
    no file read); ``source``: the args.bin's path, kept as the args.bin space's attr;
    ``flash_size``: the bytes the args.bin may take (its space's size instead of the file
    size). The old document stays whole under ``detail``."""
    align = 4 if lay.layout == "legacy" else PAGE
    tag_names = unique_names(f"tag {t.tag}" for t in lay.tags)
    items = [Item("tag", name, t.offset, 8 + 4 * t.size_words, 4,
                  sha256=_digest(data, t.offset, 8 + 4 * t.size_words),
                  attrs={"crc16": t.crc16})
             for name, t in zip(tag_names, lay.tags, strict=True)]
    k = lay.kernel
    items.append(Item("kernel", "kernel", k.load_offset, k.payload_size, align,
                      sha256=_digest(data, k.load_offset, k.payload_size),
                      attrs={"entry": k.entrypoint,
                             "text": f"0x{k.text_offset:08x}+0x{k.text_size:x}",
                             "data": f"0x{k.data_offset:08x}+0x{k.data_size:x}",
                             "bss": f"0x{k.data_offset + k.data_size:08x}+0x{k.bss_size:x}"}))
    items += _program_items(lay.programs, align, data, 2)
    # without a flash size the space has no known end: the file's own size is no limit
    # (its headroom would be the padding after the last payload, and headroom-below would
    # fail on every image)
    size = flash_size
    file_attrs: dict[str, AttrValue] = {"layout": lay.layout, "debug": lay.debug}
    if lay.file_size:
        file_attrs["file_size"] = lay.file_size
    if source is not None:
        file_attrs["source"] = source
    if data is not None:
        file_attrs["sha256"] = hashlib.sha256(data).hexdigest()
    spaces = [Space("args.bin", "byte", 0, size, tuple(items), file_attrs)]

    regions = [("ram", lay.ram), *(("region", r) for r in lay.regions)]
    mem_names = unique_names(r.name for _, r in regions)
    spaces.append(Space("memory", "byte", 0, None, tuple(
        Item(kind, name, r.start, r.size)
        for name, (kind, r) in zip(mem_names, regions, strict=True))))
    if lay.swap is not None:
        r = lay.swap.region
        spaces.append(Space("swap", "byte", 0, None, (Item(
            "swap", r.name, r.start, r.size,
            attrs={"flash_offset": lay.swap.flash_offset, "key_zero": lay.swap.key_zero}),)))
    if lay.swap is not None and lay.swap.args_size is not None:
        spaces.append(Space("swap args", "byte", 0, lay.swap.args_size,
                            tuple(_program_items(lay.swap.programs, align, None,
                                                 2 + len(lay.programs))),
                            {"flash_offset": lay.swap.flash_offset}))
    return Layout("xous", tuple(spaces), detail=lay.to_json())
