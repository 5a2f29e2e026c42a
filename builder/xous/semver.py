"""The 16-byte Xous version record (``xous-semver`` 0.1.5) carried by signed images.

Bytes (little-endian): ``major u16, minor u16, rev u16, extra u16, commit u32,
has_commit u32``; ``commit`` is 0 and ``has_commit`` is 0 when there is no commit.
All-zero bytes mean "no version" (``v0.0.0``, what swap images carry as minimum version).

Text form, as ``git describe`` prints it: ``[v]MAJ.MIN.REV[-TAIL]`` where ``TAIL`` is
``EXTRA-gHASH`` (only the first 8 characters after ``g`` are read), ``gHASH`` (the whole
hash) or ``EXTRA``. Numbers are decimal u16, the hash hex u32; like Rust's integer
parsing a single leading ``+`` is accepted. ``-dirty`` and similar suffixes are errors,
as they are for the reference tools (``v0.10.0-19-g0d934e1-dirty`` reads the commit
text ``0d934e1-``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from bootproof.builder.errors import FormatError, InputError

SEMVER_LEN = 16
_DEC = re.compile(r"\+?[0-9]+")
_HEX = re.compile(r"\+?[0-9A-Fa-f]+")


def _u16(text: str, what: str, source: str) -> int:
    if not _DEC.fullmatch(text) or int(text) > 0xFFFF:
        raise InputError(f"{what} {text!r} is not a decimal number below 65536",
                         field="version", value=source)
    return int(text)


def _commit(text: str, source: str) -> int:
    if not _HEX.fullmatch(text) or int(text, 16) > 0xFFFF_FFFF:
        raise InputError(f"commit {text!r} is not a 32-bit hex number",
                         field="version", value=source)
    return int(text, 16)


@dataclass(frozen=True, order=True)
class SemVer:
    """A version: ``major.minor.rev-extra`` and an optional 32-bit commit hash.

    Ordering (``order=True``) compares major, minor, rev, extra, then commit; the Xous
    tools compare only the first four.
    """

    major: int
    minor: int
    rev: int
    extra: int = 0
    commit: int | None = None

    @classmethod
    def parse(cls, text: str) -> SemVer:
        """Parse a ``git describe`` string; InputError (value named) if it is malformed."""
        s = text.rstrip()
        s = s.removeprefix("v")
        maj, dot, rest = s.partition(".")
        if not dot:
            raise InputError("no major version (expected MAJ.MIN.REV)", field="version",
                             value=text)
        minor, dot, rest = rest.partition(".")
        if not dot:
            raise InputError("no minor version (expected MAJ.MIN.REV)", field="version",
                             value=text)
        patch, _, tail = rest.partition("-")
        major_n, minor_n = _u16(maj, "major", text), _u16(minor, "minor", text)
        rev_n = _u16(patch, "revision", text)
        if not tail:
            return cls(major_n, minor_n, rev_n)
        extra_text, dash, commit_text = tail.partition("-")
        if dash:
            if not commit_text.startswith("g"):
                raise InputError("the commit part must start with 'g'", field="version",
                                 value=text)
            return cls(major_n, minor_n, rev_n, _u16(extra_text, "extra", text),
                       _commit(commit_text[1:9], text))
        if tail.startswith("g"):
            return cls(major_n, minor_n, rev_n, 0, _commit(tail[1:], text))
        return cls(major_n, minor_n, rev_n, _u16(tail, "extra", text))

    @classmethod
    def decode(cls, raw: bytes, *, field: str = "semver") -> SemVer:
        """Decode the 16-byte record; FormatError if it is not 16 bytes. A non-zero
        ``has_commit`` word means a commit is present (as the reference reads it)."""
        if len(raw) != SEMVER_LEN:
            raise FormatError("a version record is 16 bytes", field=field, value=len(raw))
        major, minor, rev, extra, commit, has_commit = struct.unpack("<4H2I", raw)
        return cls(major, minor, rev, extra, commit if has_commit else None)

    def encode(self) -> bytes:
        """The 16-byte record. InputError if a field does not fit its width."""
        for name, value, limit in (("major", self.major, 0xFFFF), ("minor", self.minor, 0xFFFF),
                                   ("rev", self.rev, 0xFFFF), ("extra", self.extra, 0xFFFF),
                                   ("commit", self.commit or 0, 0xFFFF_FFFF)):
            if not 0 <= value <= limit:
                raise InputError("does not fit the version record", field=name, value=value)
        return struct.pack("<4H2I", self.major, self.minor, self.rev, self.extra,
                           self.commit or 0, 0 if self.commit is None else 1)

    def __str__(self) -> str:
        text = f"v{self.major}.{self.minor}.{self.rev}-{self.extra}"
        return text if self.commit is None else f"{text}-g{self.commit:x}"


#: "No version": 16 zero bytes.
NO_VERSION = SemVer(0, 0, 0)
