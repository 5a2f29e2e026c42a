"""The tag kinds: bytes from the spec's worked examples, decode(encode) round trips, what
each kind describes, and the registry's checks."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.layout_parts import Kernel, Section
from bootproof.builder.xous.program_tags import IniE, IniF, IniS, SectionRecord, program_tag
from bootproof.builder.xous.swap_space import SwapSpace
from bootproof.builder.xous.tagblock import LayoutDraft, Tag, encode_block, read_block
from bootproof.builder.xous.tags import (
    TAG_KINDS,
    Bflg,
    MREx,
    PNam,
    Swap,
    XArg,
    XKrn,
    describe_all,
    tag_kind,
)

# Spec §4: the tags of args-default-2020.bin as xous-read-tags prints them (body words, CRC).
XARG_2020 = XArg(0x34, NamedRange("SrEx", AddressRange(0x40000000, 0x01000000)))
INIE_2020 = IniE(0xD0, 0x15DAE, (SectionRecord(0x100B8, 0x1B65, 0),
                                 SectionRecord(0x12000, 0x3DAE, 4),
                                 SectionRecord(0x15DAE, 0x18, 4)))
XKRN_2020 = XKrn(Kernel(0x59FC, 0xFFD00000, 0xEFF4, 0xFFD80000, 0x2BCC, 0x210, 0xFFD00000))


def _words(text: str) -> bytes:
    return b"".join(struct.pack("<I", int(w, 16)) for w in text.split())


def test_bodies_and_crcs_of_the_2020_fixture() -> None:
    block, infos = encode_block([XARG_2020, INIE_2020, XKRN_2020])
    assert XARG_2020.encode() == bytes.fromhex("3400000001000000000000400000000153724578")
    assert INIE_2020.encode() == _words(
        "000000d0 00015dae 000100b8 00001b65 00012000 04003dae 00015dae 04000018")
    assert XKRN_2020.encode() == _words(
        "000059fc ffd00000 0000eff4 ffd80000 00002bcc 00000210 ffd00000")
    assert [(i.tag, i.offset, i.size_words, i.crc16) for i in infos] == [
        ("XArg", 0, 5, 0x48B0), ("IniE", 28, 8, 0x2ABA), ("XKrn", 68, 7, 0x9FB1)]
    assert block[28:36] == b"IniE" + struct.pack("<2H", 0x2ABA, 8)


def test_the_fixture_decodes_into_the_same_tags() -> None:
    data = (XOUS_FIXTURES / "args-default-2020.bin").read_bytes()
    frames, warnings = read_block(data, 0x34 * 4)
    assert warnings == []
    decoded = {info.tag: TAG_KINDS[info.tag].decode(body, offset=info.offset)
               for info, body in frames}
    assert decoded["XArg"] == XARG_2020
    assert decoded["IniE"] == INIE_2020
    assert decoded["XKrn"] == XKRN_2020
    assert len(decoded["MREx"].encode()) == 6 * 16


def test_pnam_body_hand_written() -> None:
    body = (struct.pack("<2I", 1, 6) + b"kernel\0\0" + struct.pack("<2I", 2, 3) + b"abc\0"
            + struct.pack("<2I", 3, 4) + b"shel")
    tag = PNam(((1, "kernel"), (2, "abc"), (3, "shel")))
    assert tag.encode() == body
    assert PNam.decode(body, offset=0) == tag


def test_mrex_and_bflg_bodies() -> None:
    tag = MREx((NamedRange("CSRs", AddressRange(0xF0000000, 0x1000)),
                NamedRange("Ab", AddressRange(0x1000, 0x2000))))
    assert tag.encode() == (struct.pack("<3I", 0xF0000000, 0x1000, 0x73525343) + bytes(4)
                            + struct.pack("<2I", 0x1000, 0x2000) + b"Ab  " + bytes(4))
    assert Bflg(Bflg.DEBUG).encode() == b"\x04\0\0\0"
    assert Bflg.decode(b"", offset=0x40) == Bflg(None)


_fourcc = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=4,
                  max_size=4)
_u32 = st.integers(0, 0xFFFF_FFFF)
_region = st.builds(NamedRange, _fourcc, st.builds(AddressRange, _u32, _u32))
_section = st.builds(SectionRecord, _u32, st.integers(0, 0xFF_FFFF), st.integers(0, 0xFF))
_kernel = st.builds(Kernel, _u32, _u32, _u32, _u32, _u32, _u32, _u32)
_tags = st.one_of(
    st.builds(XArg, _u32, _region, _u32),
    st.builds(MREx, st.lists(_region, max_size=5).map(tuple)),
    st.builds(Bflg, st.one_of(st.none(), _u32)),
    st.builds(IniE, _u32, _u32, st.lists(_section, max_size=5).map(tuple)),
    st.builds(IniF, _u32, _u32, st.lists(_section, max_size=5).map(tuple)),
    st.builds(XKrn, _kernel),
    st.builds(IniS, _u32, _u32, st.lists(_section, max_size=5).map(tuple)),
    st.builds(Swap, _region, st.binary(min_size=32, max_size=32), _u32),
    st.builds(PNam, st.lists(st.tuples(_u32, st.text(max_size=12)), max_size=4).map(tuple)),
)


@given(_tags)
def test_decode_inverts_encode(tag: Tag) -> None:
    body = tag.encode()
    assert len(body) % 4 == 0
    again = type(tag).decode(body, offset=0)
    assert again == tag
    assert again.encode() == body


@given(st.lists(_tags, max_size=8))
def test_block_walk_inverts_encode_block(tags: list[Tag]) -> None:
    block, infos = encode_block(tags)
    frames, warnings = read_block(block, len(block))
    assert warnings == []
    assert [info for info, _ in frames] == list(infos)
    assert [TAG_KINDS[i.tag].decode(body, offset=i.offset) for i, body in frames] == tags


def test_describe_fills_the_layout() -> None:
    names = PNam(((1, "kernel"), (2, "init"), (3, "xip")))
    xip = IniF(0x2234, 0x30000234, (SectionRecord(0x30000234, 0x100, 4),
                                    SectionRecord(0x30001000, 0x40, 3)))
    draft = describe_all([XARG_2020, MREx((NamedRange("CSRs", AddressRange(0xF0000000, 0x1000)),)),
                          Bflg(Bflg.DEBUG), INIE_2020, xip, XKRN_2020, names])
    lay = draft.finish(layout="aligned", file_size=0x3000, tags=())
    assert (lay.arg_size_words, lay.ram, lay.debug) == (0x34, XARG_2020.ram, True)
    assert lay.regions == (NamedRange("CSRs", AddressRange(0xF0000000, 0x1000)),)
    assert lay.kernel == XKRN_2020.kernel
    assert lay.names == {1: "kernel", 2: "init", 3: "xip"}
    assert [(p.kind, p.pid, p.name) for p in lay.programs] == [("IniE", 2, "init"),
                                                                ("IniF", 3, "xip")]
    # the payload holds the copied sections back to back; NOCOPY takes no bytes
    assert lay.programs[1].sections == (Section(0x30000234, 0x100, 4, 0x2234),
                                        Section(0x30001000, 0x40, 3, None))
    assert lay.programs[1].payload_size == 0x100
    assert lay.programs[0].payload_size == 0x1B65 + 0x3DAE + 0x18
    assert lay.warnings == ()


def test_repeated_tags_follow_the_loader() -> None:
    first = (NamedRange("AAAA", AddressRange(0, 0x1000)),)
    last = (NamedRange("BBBB", AddressRange(0x1000, 0x1000)),)
    other = XKrn(Kernel(0, 1, 2, 3, 4, 5, 6))
    draft = describe_all([XARG_2020, MREx(first), MREx(last), INIE_2020, XKRN_2020, other,
                          PNam(((2, "one"),)), PNam(((2, "two"),))])
    lay = draft.finish(layout="aligned", file_size=0, tags=())
    assert lay.regions == last          # the last MREx wins
    assert lay.kernel == XKRN_2020.kernel  # the first XKrn is kept, the second noted
    assert lay.names == {2: "one"}      # the first PNam wins
    assert lay.warnings == ("several MREx tags: the loader uses the last one",
                            "several XKrn tags: the loader stops (kernel appears twice)",
                            "several PNam tags: the first one wins")


def test_a_layout_needs_xarg_and_xkrn() -> None:
    with pytest.raises(FormatError, match="no XKrn tag"):
        describe_all([XARG_2020, INIE_2020]).finish(layout="aligned", file_size=0, tags=())
    with pytest.raises(FormatError, match="no XArg tag"):
        describe_all([XKRN_2020]).finish(layout="aligned", file_size=0, tags=())
    lay = describe_all([XARG_2020, XKRN_2020]).finish(layout="aligned", file_size=0, tags=())
    assert lay.warnings == ("no IniE/IniF tag: the loader stops (no initial programs found)",)


@pytest.mark.parametrize(("kind", "body", "message"), [
    (XArg, bytes(16), "XArg tag too small"),
    (IniE, bytes(4), "IniE body too small"),
    (IniF, bytes(4), "IniF body too small"),
    (XKrn, bytes(24), "XKrn body too small"),
    (IniS, bytes(4), "IniS body too small"),
    (Swap, bytes(44), "a Swap tag body is 48 bytes"),
])
def test_unreadable_bodies_name_file_and_field(kind: type[Tag], body: bytes,
                                               message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        kind.decode(body, offset=0x40, path="a.bin")
    assert "a.bin" in str(info.value) and f"{kind.fourcc} size_words" in str(info.value)


@pytest.mark.parametrize(("kind", "body", "problem"), [
    (XArg, XARG_2020.encode() + bytes(4), "XArg has 6 words; the loader needs exactly 5"),
    (XArg, struct.pack("<5I", 7, 2, 0, 0, 0), "XArg version is 2, expected 1"),
    (MREx, bytes(20), "MREx at 0x40 is not a whole number of 16-byte records"),
    (Bflg, b"", "Bflg at 0x40 is empty"),
    (IniE, bytes(12), "IniE at 0x40 has a half section record"),
    (XKrn, bytes(32), "XKrn has 32 bytes; the loader needs exactly 28"),
    (Swap, bytes(52), "Swap at 0x40 has 52 bytes; the loader reads the first 48"),
    (PNam, struct.pack("<2I", 5, 9) + b"abc\0", "PNam record for PID 5 runs past the tag"),
])
def test_what_the_loader_would_reject_is_a_problem(kind: type[Tag], body: bytes,
                                                   problem: str) -> None:
    tag = kind.decode(body, offset=0x40)
    assert tag.problems == (problem,)
    draft = LayoutDraft()
    tag.describe(draft)
    assert draft.warnings == [problem]


def test_registry() -> None:
    assert sorted(TAG_KINDS) == sorted(["XArg", "MREx", "Bflg", "IniE", "IniF", "XKrn",
                                        "PNam", "Swap", "IniS"])
    assert program_tag("IniF") is IniF
    assert program_tag("IniS") is IniS
    with pytest.raises(KeyError):
        program_tag("Swap")
    with pytest.raises(KeyError):
        program_tag("XKrn")
    with pytest.raises(TypeError):
        TAG_KINDS["IniS"] = IniE  # type: ignore[index]


def test_registry_refuses_a_taken_or_malformed_fourcc() -> None:
    @dataclass(frozen=True)
    class Again(IniE):
        fourcc: ClassVar[str] = "IniE"

    @dataclass(frozen=True)
    class Long(IniE):
        fourcc: ClassVar[str] = "IniSS"

    with pytest.raises(ValueError, match="IniE is registered twice"):
        tag_kind(Again)
    with pytest.raises(ValueError, match="not 4 ASCII characters"):
        tag_kind(Long)
    assert TAG_KINDS["IniE"] is IniE and "IniSS" not in TAG_KINDS


SWAP_RENODE = Swap(NamedRange("Swap", AddressRange(0x40200000, 0x400000)))


def test_swap_body_from_the_spec() -> None:
    # Spec addendum §1.2: --swap 0x40200000:0x400000 gives this body (CRC in test_xous_swap)
    assert SWAP_RENODE.encode() == (_words("40200000 00400000") + b"Swap" + bytes(32)
                                    + _words("21200000"))
    assert Swap.decode(SWAP_RENODE.encode(), offset=28) == SWAP_RENODE
    with pytest.raises(InputError, match="32-bit Swap tag field"):
        Swap(NamedRange("Swap", AddressRange(1 << 32, 0))).encode()
    with pytest.raises(InputError, match="key is 32 bytes"):
        Swap(NamedRange("Swap", AddressRange(0, 0)), bytes(31)).encode()


def test_swap_and_inis_describe_the_swap_space() -> None:
    inis = [IniS(0x1000, 0x20000, (SectionRecord(0x20000, 0x1800, 5),
                                   SectionRecord(0x30000, 0x100, 2))),
            IniS(0x3000, 0x40000, (SectionRecord(0x40000, 0x10, 5),))]
    names = PNam(((1, "kernel"), (2, "init"), (3, "swapper"), (4, "paged")))
    draft = describe_all([XARG_2020, SWAP_RENODE, INIE_2020, XKRN_2020, names])
    describe_all(inis, draft)
    draft.swap_args_size = 0x4000
    lay = draft.finish(layout="aligned", file_size=0x3000, tags=())
    assert [p.pid for p in lay.programs] == [2]
    swap = lay.swap
    assert swap is not None
    assert (swap.region, swap.flash_offset, swap.key_zero) == (
        NamedRange("Swap", AddressRange(0x40200000, 0x400000)), 0x21200000, True)
    # PIDs follow the IniE/IniF programs, names from args.bin's PNam
    assert [(p.kind, p.pid, p.name, p.load_offset, p.payload_size) for p in swap.programs] == [
        ("IniS", 3, "swapper", 0x1000, 0x1800), ("IniS", 4, "paged", 0x3000, 0x10)]
    assert swap.programs[0].sections[1].file_offset is None
    assert swap.args_size == 0x4000
    # 1024 pages, their 16 KiB of MACs take 4 pages
    assert (swap.pages, swap.usable) == (1024, 0x400000 - 0x4000)
    assert SwapSpace.from_json(swap.to_json()) == swap


def test_the_last_swap_tag_wins_and_inis_needs_swap() -> None:
    other = Swap(NamedRange("Swap", AddressRange(0, 0x800000)), b"k" * 32)
    draft = describe_all([XARG_2020, SWAP_RENODE, other, INIE_2020, XKRN_2020])
    lay = draft.finish(layout="aligned", file_size=0, tags=())
    assert lay.swap == SwapSpace(NamedRange("Swap", AddressRange(0, 0x800000)), 0x21200000, False)
    assert lay.warnings == ("several Swap tags: the loader uses the last one",)
    draft = describe_all([XARG_2020, INIE_2020, XKRN_2020, IniS(0x1000, 0, ())])
    lay = draft.finish(layout="aligned", file_size=0, tags=())
    assert lay.swap is None and lay.warnings == (
        "IniS programs but no Swap tag: the loader has no swap to page them from",)
