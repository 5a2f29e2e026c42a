"""The loader model's report: its serial lines parsed into the tag kinds and the layout.

Before it lays anything out, the loader model (``harness/guests/loader.c``) prints what it
read from each tag, one line per fact::

    XArg: arg_size_words=40 version=1 ram=6e497253 (SrIn) 80000000 - 81000000
    Tag 1 MREx @0000001c words=4 crc=20ec ok
    Discovered memory region 6c467053 (20000000 - 22000000) -- 33554432 bytes
    Boot flags: 00000004
    Name pid=1 kernel
    Program pid=2 kind=IniF load=00001100 entry=00030100 payload=00000f20 sections=2 name=-
    Section pid=2 index=0 vaddr=00030100 size=00000f20 flags=04 file_offset=00001100
    Kernel load=00003000 text=ffd00000+00000b2c data=ffd80000+00000040 bss=00002010 entry=...
    Swap: ram=80c00000 size=00400000 name=70617753 (Swap) flash_offset=21200000 key=zero ...
    Swap program pid=3 name=alpha
    Swap args: size=0000b000 inis=2
    Program pid=3 kind=IniS load=00001000 entry=00010000 payload=00008020 sections=4 name=alpha
    Signed image: version=2 signed_len=00004028 trailer=ok args=20001000 (...)

:func:`layout_from_loader` turns these lines back into the tag kinds of
:mod:`bootproof.builder.xous.tags` and lets them describe the layout, as ``inspect`` does
for a file. What the loader derived itself (PIDs, payload sizes, section file offsets) is
kept as the loader printed it, so the comparison with the expected layout
(:func:`compare_layouts`) checks the loader's arithmetic as well as the tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bootproof.builder.errors import FormatError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.layout_parts import Kernel, Program, TagInfo
from bootproof.builder.xous.program_tags import SectionRecord, program_tag
from bootproof.builder.xous.tagblock import Tag, fourcc_text
from bootproof.builder.xous.tags import Bflg, MREx, PNam, Swap, XArg, XKrn, describe_all
from bootproof.harness.core.errors import layout_differences

_H = "([0-9a-f]{8})"
_XARG = re.compile(
    rf"^XArg: arg_size_words=(\d+) version=(\d+) ram={_H} \(.*\) {_H} - {_H}$", re.M)
_TAG = re.compile(rf"^Tag (\d+) (.{{4}}) @{_H} words=(\d+) crc=([0-9a-f]{{4}}) ok$", re.M)
_REGION = re.compile(rf"^Discovered memory region {_H} \({_H} - {_H}\) -- (\d+) bytes$", re.M)
_BFLG = re.compile(rf"^Boot flags: {_H}$", re.M)
_KNAME = re.compile(r"^Name pid=1 (\S+)$", re.M)
_PROGRAM = re.compile(
    rf"^Program pid=(\d+) kind=(IniE|IniF|IniS) load={_H} entry={_H} payload={_H} sections=(\d+) "
    r"name=(\S+)$", re.M)
_SECTION = re.compile(
    rf"^Section pid=(\d+) index=(\d+) vaddr={_H} size={_H} flags=([0-9a-f]{{2}}) "
    rf"file_offset=(?:{_H}|none)$", re.M)
_KERNEL = re.compile(
    rf"^Kernel load={_H} text={_H}\+{_H} data={_H}\+{_H} bss={_H} entry={_H}$", re.M)
_SWAP = re.compile(
    rf"^Swap: ram={_H} size={_H} name={_H} \(.*\) flash_offset={_H} key=(zero|set) "
    rf"pages=(\d+) usable={_H}$", re.M)
_SWAP_PROGRAM = re.compile(r"^Swap program pid=(\d+) name=(\S+)$", re.M)
_SWAP_ARGS = re.compile(rf"^Swap args: size={_H} inis=(\d+)$", re.M)
_SIGNED = re.compile(rf"^Signed image: version=(\d+) signed_len={_H} trailer=ok args={_H}",
                     re.M)
#: The loader's last line before it hands over: the register state for the kernel.
JUMP_LINE = re.compile(
    rf"Jumping to kernel @ {_H} with map @ {_H} and stack @ {_H} "
    rf"\(kargs: {_H}, ip: {_H}, rpt: {_H}, xpt: {_H}\)")

@dataclass(frozen=True)
class SignedFlash:
    """A signed ``xous.img`` the loader model found in flash: its version, the signature
    block's ``signed_len`` (checked against the trailer) and where the args start."""

    version: int
    signed_len: int
    args_address: int


def signed_from_loader(text: str) -> SignedFlash | None:
    """The loader model's ``Signed image`` line, None when it booted a plain args.bin."""
    m = _SIGNED.search(text.replace("\r", ""))
    return None if m is None else SignedFlash(int(m.group(1)), _hex(m, 2), _hex(m, 3))


@dataclass(frozen=True)
class Jump:
    """The register state the loader model hands to the kernel (the ``Jumping`` line)."""

    entry: int
    satp: int
    sp: int
    kargs: int
    ip: int
    rpt: int
    xpt: int

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Jump:
        """The jump a :data:`JUMP_LINE` match shows."""
        return cls(*(int(match.group(i), 16) for i in range(1, 8)))


def _fourcc(hex_word: str) -> str:
    return fourcc_text(int(hex_word, 16).to_bytes(4, "little"))


def _hex(match: re.Match[str], group: int) -> int:
    return int(match.group(group), 16)


def layout_from_loader(text: str) -> XousLayout:
    """Parse the loader model's report (serial text) into the shared layout model.

    ``layout`` is inferred from the payload offsets and ``file_size`` is 0: the loader
    cannot know them (they are not compared). Raises FormatError naming the missing line
    when the report is incomplete.
    """
    text = text.replace("\r", "")
    xarg = _XARG.search(text)
    kern = _KERNEL.search(text)
    if xarg is None or kern is None:
        missing = "XArg" if xarg is None else "Kernel"
        raise FormatError(f"the loader model's report has no {missing} line",
                          field="serial log")
    # The tags, in the order create-image writes them, rebuilt from what the loader read.
    start = _hex(xarg, 4)
    tags: list[Tag] = [XArg(int(xarg.group(1)),
                            NamedRange(_fourcc(xarg.group(3)),
                                       AddressRange(start, _hex(xarg, 5) - start)),
                            int(xarg.group(2)))]
    swap = _SWAP.search(text)
    if swap is not None:
        # Only whether the key is zero is reported: a stand-in key of the same zero-ness.
        key = bytes(32) if swap.group(5) == "zero" else b"\xff" * 32
        swap_ram = NamedRange(_fourcc(swap.group(3)), AddressRange(_hex(swap, 1), _hex(swap, 2)))
        tags.append(Swap(swap_ram, key, _hex(swap, 4)))
    regions = tuple(NamedRange(_fourcc(m.group(1)), AddressRange(_hex(m, 2), int(m.group(4))))
                    for m in _REGION.finditer(text))
    if regions:
        tags.append(MREx(regions))
    bflg = _BFLG.search(text)
    if bflg is not None:
        tags.append(Bflg(_hex(bflg, 1)))
    sections: dict[int, list[tuple[SectionRecord, int | None]]] = {}
    for m in _SECTION.finditer(text):
        offset = None if m.group(6) is None else _hex(m, 6)
        sections.setdefault(int(m.group(1)), []).append(
            (SectionRecord(_hex(m, 3), _hex(m, 4), _hex(m, 5)), offset))
    kname = _KNAME.search(text)
    names = [] if kname is None or kname.group(1) == "-" else [(1, kname.group(1))]
    # the loader's pid, payload, offsets per program; IniS ones apart (they describe the swap)
    placed: list[tuple[int, int, list[int | None]]] = []
    swap_placed: list[tuple[int, int, list[int | None]]] = []
    swap_tags: list[Tag] = []
    for m in _PROGRAM.finditer(text):
        pid = int(m.group(1))
        records = sections.get(pid, [])
        tag = program_tag(m.group(2))(_hex(m, 3), _hex(m, 4),
                                      tuple(record for record, _ in records))
        where = (pid, _hex(m, 5), [offset for _, offset in records])
        if m.group(2) == "IniS":
            swap_tags.append(tag)
            swap_placed.append(where)
        else:
            tags.append(tag)
            placed.append(where)
            if m.group(7) != "-":
                names.append((pid, m.group(7)))
    names += [(int(m.group(1)), m.group(2)) for m in _SWAP_PROGRAM.finditer(text)
              if m.group(2) != "-"]
    tags.append(XKrn(Kernel(*(_hex(kern, i) for i in range(1, 8)))))
    if names:
        tags.append(PNam(tuple(names)))

    draft = describe_all(tags)
    describe_all(swap_tags, draft)
    swap_args = _SWAP_ARGS.search(text)
    draft.swap_args_size = None if swap_args is None else _hex(swap_args, 1)
    draft.programs = _as_loaded(draft.programs, placed)
    draft.swap_programs = _as_loaded(draft.swap_programs, swap_placed)
    infos = tuple(
        TagInfo(index=int(m.group(1)), tag=m.group(2), offset=_hex(m, 3),
                size_words=int(m.group(4)), crc16=_hex(m, 5), crc_ok=True)
        for m in _TAG.finditer(text))
    layout = draft.finish(layout="aligned", file_size=0, tags=infos)
    offsets = [p.load_offset for p in layout.programs if p.kind == "IniE"]
    offsets.append(layout.kernel.load_offset)
    aligned = all(o % 4096 == 0 for o in offsets) and min(offsets) >= 4096
    return replace(layout, layout="aligned" if aligned else "legacy")


def _as_loaded(programs: list[Program], placed: list[tuple[int, int, list[int | None]]]
               ) -> list[Program]:
    """``programs`` with the PIDs, payload sizes and section offsets the loader printed."""
    return [replace(p, pid=pid, payload_size=payload,
                    sections=tuple(replace(s, file_offset=o)
                                   for s, o in zip(p.sections, offsets, strict=True)))
            for p, (pid, payload, offsets) in zip(programs, placed, strict=True)]


def compare_layouts(expected: XousLayout, booted: XousLayout) -> list[str]:
    """Every difference between the builder's layout and the booted loader's, one per line
    (empty when they agree on everything the loader reports), both taken into the layout
    model (:meth:`XousLayout.to_model`) and compared as every guest check is
    (:func:`~bootproof.harness.core.errors.layout_differences`): the tags (offset, size,
    CRC), the kernel and program payloads with their entry points and sections, and the
    memory regions. What only the file knows (its size, the items' sha256) is not
    compared; when the loader did not read the swap args (no plaintext swap image in
    flash), neither are the swap programs: only the swap region and the names PNam gives."""
    # the payload layout is the file's (the loader's is a guess from the offsets)
    booted = replace(booted, layout=expected.layout)
    return layout_differences(expected.to_model(), booted.to_model())
