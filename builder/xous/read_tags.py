"""``xous-read-tags`` output, line for line (spec addendum §4), for scripts that parse it.

The tool walks tags from byte 0 of whatever it is given (no signature header is skipped,
nothing is bounds-checked). For each tag at ``off``: the 8-byte header, ``off += 8``;
an ``XArg`` with a 20-byte body sets ``total`` to its first word times 4 (bytes, although
the message says words) and prints::

    Found Xous Args Size at offset <off>, setting total_words to <total>

then every tag prints one line::

    <fourcc %08x> (<fourcc, lossy UTF-8>) (<n> bytes, crc: <stored %04x>): <word %08x>...  CRC: OK
    ...  CRC: FAIL (calc: <computed %04x>)

``off`` then moves past the body; the walk stops when ``off == total`` and the tool
panics with ``exceeded total words (<total>) with byte_offset of <off>`` when it passes
it. Running out of bytes makes the tool panic on an index: here that is an error
message too (the partial line the tool prints before it is not reproduced).

:func:`read_tags` formats any sequence of :class:`~bootproof.builder.xous.rawtags.RawTag`
(from :func:`~bootproof.builder.xous.rawtags.scan_tags`, which walks bytes as the tool
does, or from a decoder); :func:`read_tags_bytes` is the whole tool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bootproof.builder.formats.crc16 import crc16_x25
from bootproof.builder.xous.rawtags import RawTag, scan_tags

#: The tool's usage line (exit status 1), with ``{argv0}`` to fill in.
USAGE = "Usage: {argv0} [xous_presign.img]"


@dataclass(frozen=True)
class ReadTagsOutput:
    """The lines the tool prints, and its panic message when it would panic (exit 101)."""

    lines: tuple[str, ...]
    error: str | None = None

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def format_tag_line(name: bytes, crc: int, body: bytes) -> str:
    """The tool's line for one tag (no newline)."""
    fourcc = int.from_bytes(name, "little")
    words = "".join(f" {int.from_bytes(body[i:i + 4], 'little'):08x}"
                    for i in range(0, len(body) - 3, 4))
    calc = crc16_x25(body)
    verdict = "CRC: OK" if calc == crc else f"CRC: FAIL (calc: {calc:04x})"
    return (f"{fourcc:08x} ({name.decode('utf-8', errors='replace')}) "
            f"({len(body)} bytes, crc: {crc:04x}):{words}  {verdict}")


def args_size_line(off: int, total: int) -> str:
    """The line printed for an ``XArg`` tag with a 20-byte body."""
    return f"Found Xous Args Size at offset {off}, setting total_words to {total}"


def read_tags(tags: Iterable[RawTag]) -> ReadTagsOutput:
    """What the tool prints for these tags, in this order, with its stop and panic rules."""
    lines: list[str] = []
    total = 0
    for tag in tags:
        off = tag.offset + 8
        if tag.truncated:
            return ReadTagsOutput(tuple(lines), f"truncated tag at byte_offset {tag.offset}: "
                                  "the file ends inside it")
        if tag.name == b"XArg" and len(tag.body) == 20:
            total = int.from_bytes(tag.body[:4], "little") * 4
            lines.append(args_size_line(off, total))
        lines.append(format_tag_line(tag.name, tag.crc, tag.body))
        off = tag.end
        if off == total:
            return ReadTagsOutput(tuple(lines))
        if off > total:
            return ReadTagsOutput(tuple(lines), f"exceeded total words ({total}) with "
                                  f"byte_offset of {off}")
    return ReadTagsOutput(tuple(lines), "the file ends before the tag block does "
                          f"(total_words {total})")


def read_tags_bytes(data: bytes) -> ReadTagsOutput:
    """The whole tool on a file's bytes."""
    return read_tags(scan_tags(data))


def raw_tags_from_offsets(data: bytes, offsets: Iterable[tuple[int, int, int]]) -> list[RawTag]:
    """:class:`RawTag` values for tags a decoder located: ``(offset, crc, size_words)``
    each (e.g. from ``XousLayout.tags`` of the args.bin decoder)."""
    return [RawTag(off, data[off:off + 4], crc, size, data[off + 8:off + 8 + 4 * size])
            for off, crc, size in offsets]
