"""``inspect`` for every Xous file a user has: what it is, its signature, what it holds.

:func:`examine` takes the bytes of any kind that
:func:`~bootproof.builder.xous.identify.identify` tells apart and returns an
:class:`Examination`:

* ``args`` (args.bin): the layout (:mod:`bootproof.builder.xous.inspect`);
* ``swap-args`` (a swap args block, e.g. a debug swap image without its first page);
* ``precursor-v1``/``precursor-v2`` (``loader.bin``/``xous.img``) and ``bao1x`` images: every
  field of the signature block, the signature checked against the keys given (default:
  every known key, the developer key among them), and the args.bin inside decoded;
* ``swap-encrypted``/``swap-encrypted-unsigned``/``swap-debug``: the swap header, the
  signature block at 0xD00, the pages decrypted (default: the zero key create-image
  encrypts with) and the swap args inside decoded;
* ``uf2``: the UF2 framing, then whatever the blocks carry, examined the same way.

A signature that does not match or a page that does not decrypt is kept as
``verify_error``/``decrypt_error`` (``failed``): the rest is still decoded and shown, and
the command line exits 1. Bytes that cannot be decoded at all raise FormatError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bootproof.builder.errors import FormatError, VerificationError
from bootproof.builder.fileio import read_input
from bootproof.builder.formats import uf2
from bootproof.builder.report import hexa, size_text, table
from bootproof.builder.xous import signed, signed_bao1x, signed_precursor, swap_image
from bootproof.builder.xous.identify import identify
from bootproof.builder.xous.inspect import decode
from bootproof.builder.xous.keys import Verified, describe_key
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.layout_parts import program_lines, tag_table
from bootproof.builder.xous.swap_args import SwapArgs, decode_swap_args

JSON_FORMAT = "xous-inspect"
#: Function codes whose bao1x payload is an args.bin (the others carry code).
_ARGS_FUNCTIONS = ("kernel", "updated-kernel", "app", "updated-app")
_KIND_TEXT = {
    "args": "args.bin",
    "swap-args": "swap args block",
    "precursor-v1": "Precursor signed loader (loader.bin, version 1)",
    "precursor-v2": "Precursor signed kernel image (xous.img, version 2)",
    "bao1x": "bao1x signed image",
    "swap-encrypted": "swap image (encrypted, signed)",
    "swap-encrypted-unsigned": "swap image (encrypted, unsigned: 2024-04 to 2025-10)",
    "swap-debug": "swap image (plaintext debug copy)",
    "uf2": "UF2 file",
}


@dataclass(frozen=True)
class Examination:
    """What :func:`examine` found in one file (see the module docstring).

    ``verified``/``verify_error``: the signature check (None, None when there is no
    signature); ``decrypt_key``: ``"zero"`` or ``"given"``; ``args``/``swap_args``: the
    decoded args.bin / swap args; ``payload``: what a signed image carries when it is not
    an args.bin (``loader.bin``); ``inner``: what a UF2 file carries.
    """

    path: str
    kind: str
    file_size: int
    signature: signed.SignedImage | None = None
    verified: Verified | None = None
    verify_error: str | None = None
    swap: swap_image.SwapImage | None = None
    decrypt_key: str | None = None
    decrypt_error: str | None = None
    args: XousLayout | None = None
    swap_args: SwapArgs | None = None
    payload: str | None = None
    uf2: uf2.Uf2Image | None = None
    inner: Examination | None = None
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """A signature or a decryption did not check out (here or inside a UF2)."""
        return bool(self.verify_error or self.decrypt_error
                    or (self.inner is not None and self.inner.failed))

    def problems(self) -> list[str]:
        """Every failed check and warning, one line each (the command line exits 1 on any)."""
        out = [e for e in (self.verify_error, self.decrypt_error) if e]
        out += list(self.warnings)
        if self.args is not None:
            bad = [f"{t.tag}#{t.index}" for t in self.args.tags if not t.crc_ok]
            out += ([f"CRC mismatch in {', '.join(bad)}"] if bad else []) + list(
                self.args.warnings)
        if self.swap_args is not None:
            out += [f"swap args: {w}" for w in self.swap_args.warnings]
        if self.inner is not None:
            out += self.inner.problems()
        return out

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form of ``inspect --json`` for every kind but a plain
        args.bin (which prints its layout, format ``xous-args``)."""
        verification: dict[str, Any] | None = None
        if self.verified is not None:
            verification = self.verified.to_json()
        elif self.verify_error is not None:
            verification = {"ok": False, "error": self.verify_error}
        return {
            "format": JSON_FORMAT,
            "file": self.path,
            "kind": self.kind,
            "file_size": self.file_size,
            "signature": None if self.signature is None else self.signature.to_json(),
            "verification": verification,
            "swap_image": None if self.swap is None else self.swap.to_json(),
            "decryption": None if self.decrypt_key is None else {
                "ok": self.decrypt_error is None, "key": self.decrypt_key,
                "error": self.decrypt_error},
            "args": None if self.args is None else self.args.to_json(),
            "swap_args": None if self.swap_args is None else self.swap_args.to_json(),
            "payload": self.payload,
            "uf2": None if self.uf2 is None else {
                "base": self.uf2.base, "family": self.uf2.family, "blocks": self.uf2.blocks},
            "inner": None if self.inner is None else self.inner.to_json(),
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        """The readable report."""
        out = [f"{self.path}: {_KIND_TEXT.get(self.kind, self.kind)}, "
               f"{size_text(self.file_size)}"]
        if self.uf2 is not None:
            family = "-" if self.uf2.family is None else f"0x{self.uf2.family:08x}"
            out.append(f"UF2: {self.uf2.blocks} blocks from {hexa(self.uf2.base)}, family "
                       f"{family}")
        if self.swap is not None:
            out += _swap_lines(self.swap)
        if self.signature is not None:
            out += _signature_lines(self.signature)
        if self.verified is not None:
            out.append(f"Verification: {self.verified.describe()}")
            if self.verified.digest:
                out.append(f"  SHA-512 of the signed region: {self.verified.digest.hex()}")
        elif self.verify_error is not None:
            out.append(f"Verification FAILED: {self.verify_error}")
        if self.decrypt_key is not None:
            key = "the zero key" if self.decrypt_key == "zero" else "the key given"
            out.append(f"Decryption FAILED: {self.decrypt_error}" if self.decrypt_error
                       else f"Decryption: every page authenticates with {key}")
        if self.payload is not None:
            out.append(f"Payload: {self.payload}")
        if self.args is not None:
            if self.kind != "args":
                out += ["", f"Inner args.bin ({size_text(self.args.file_size)}):"]
            out.append(self.args.to_table())
        if self.swap_args is not None:
            out += ["", *_swap_args_lines(self.swap_args)]
        if self.inner is not None:
            out += ["", "UF2 payload:", self.inner.to_text()]
        if self.warnings:
            out += ["", "Warnings:", *(f"  {w}" for w in self.warnings)]
        return "\n".join(out)


def _signature_lines(sig: signed.SignedImage) -> list[str]:
    if isinstance(sig, signed_precursor.PrecursorSignature):
        jump = ("no jump" if sig.jump is None
                else f"jump 0x{sig.jump:08x} (jal +0x{sig.header_len:x})")
        trailer_ok = (sig.trailer_version == sig.version
                      and sig.trailer_len == sig.signed_len - 4)
        rows: list[list[object]] = [
            ["version", f"{sig.version} ({sig.algorithm})"],
            ["header", f"{sig.header_len} bytes, {jump}"],
            ["signed region", f"{hexa(sig.signed_offset)} + {size_text(sig.signed_len)}"],
            ["signature", sig.signature.hex()],
            ["public key", f"{describe_key(sig.public_key)} (informational: not checked "
                           "against)"],
            ["min version", str(sig.min_version)],
            ["version record", str(sig.semver)],
            ["trailer", f"version {sig.trailer_version}, length 0x{sig.trailer_len:x} "
                        + ("(ok)" if trailer_ok else "(the loader rejects it)")],
        ]
        return [f"Signature block (Precursor v{sig.version}):", table(["field", "value"], rows)]
    function = sig.function or "unknown"
    rows = [
        ["jump", f"0x{sig.jump:08x}"],
        ["signature", sig.signature.hex()],
        ["aad_len", f"{sig.aad_len} ({sig.algorithm})"],
        ["version", f"0x{sig.version:x}"],
        ["magic", sig.magic.decode("ascii", errors="backslashreplace")],
        ["signed region", f"{hexa(sig.signed_offset)} + {size_text(sig.signed_len)}"],
        ["function", f"{function} (0x{sig.function_code:x})"],
        ["anti-rollback", sig.anti_rollback],
        ["min version", str(sig.min_version)],
        ["version record", str(sig.semver)],
    ]
    rows += [[f"key slot {i}", f"{slot.tag.decode('ascii', errors='backslashreplace')!r} "
                               f"{describe_key(slot.public)}"]
             for i, slot in enumerate(sig.pubkeys)]
    rows += [
        ["toolchain", sig.toolchain.hex() if any(sig.toolchain) else "zero"],
        ["padding", "zero" if sig.padding_zero else "NOT zero"],
    ]
    return [f"Signature block (bao1x v1 at {hexa(sig.offset, 4)}):",
            table(["field", "value"], rows)]


def _swap_lines(image: swap_image.SwapImage) -> list[str]:
    h = image.header
    aad = h.aad[:min(h.aad_len, swap_image.AAD_FIELD)].decode("ascii", "backslashreplace")
    return [
        f"Swap header: version 0x{h.version:08x}, partial nonce 0x{h.partial_nonce:016x}, "
        f"mac_offset {hexa(h.mac_offset)}, aad {aad!r} ({h.aad_len} bytes)",
        f"  {image.pages} page(s) of data at {hexa(swap_image.DATA_OFFSET)}"
        + (f", MAC table at {hexa(image.mac_table_offset)}" if image.encrypted
           else " in plaintext"),
    ]


def _swap_args_lines(args: SwapArgs) -> list[str]:
    r = args.region
    out = [f"Swap args ({size_text(args.block_len)}): XArg RAM {r.name!r} {hexa(r.start)} - "
           f"{hexa(r.end)}, tag block {args.arg_size_words} words; offsets count from the "
           "block's first byte",
           tag_table(args.tags)]
    return out + program_lines(args.programs)


def _verify(data: bytes, sig: signed.SignedImage, keys: Sequence[bytes] | None,
            path: str) -> tuple[Verified | None, str | None]:
    try:
        return signed.verify_signed(data, sig, keys, path=path), None
    except VerificationError as exc:
        return None, exc.message


def _inner_args(data: bytes, path: str) -> XousLayout:
    return decode(data, path=f"{path} (inner args.bin)")


def _natural_end(data: bytes) -> int:
    """Where a file carried by UF2 ends (its blocks pad it to 256 bytes)."""
    kind = identify(data)
    try:
        if kind in ("bao1x", "precursor-v1", "precursor-v2"):
            sig = signed.parse_signed(data)
            return sig.signed_offset + sig.signed_len
        if kind in ("swap-encrypted", "swap-encrypted-unsigned"):
            image = swap_image.parse_swap_image(data)
            return image.mac_table_offset + swap_image.MAC_LEN * image.pages
    except FormatError:
        pass
    return len(data)


def _swap_args_for(plain: bytes, path: str, args: XousLayout | None) -> SwapArgs:
    """The swap args decoded, their IniS programs numbered and named after ``args`` (the
    args.bin they belong to) when given, with what does not match it as warnings."""
    if args is None:
        return decode_swap_args(plain, path=path)
    found = decode_swap_args(plain, path=path, first_pid=args.first_swap_pid)
    named = tuple(replace(p, name=args.names.get(p.pid, "")) for p in found.programs)
    warnings = list(found.warnings)
    if args.swap is None:
        warnings.append("the args.bin given has no Swap tag")
    elif args.swap.region != found.region:
        r, s = args.swap.region, found.region
        warnings.append(f"the args.bin's Swap tag says {r.name} 0x{r.start:08x}+0x{r.size:x}, "
                        f"the swap args' XArg {s.name} 0x{s.start:08x}+0x{s.size:x}")
    pnam = list(args.swap_names)
    if pnam != [p.pid for p in named]:
        warnings.append(f"the args.bin's PNam names PIDs {pnam} after its IniE/IniF programs, "
                        f"the swap args hold {len(named)} IniS program(s)")
    return replace(found, programs=named, warnings=tuple(warnings))


def examine(data: bytes, *, path: str, keys: Sequence[bytes] | None = None,
            decrypt_key: bytes | None = None, header_len: int | None = None,
            args: XousLayout | None = None) -> Examination:
    """Examine the bytes of a Xous file (module docstring).

    ``keys``: public keys to verify against (default: every known key); ``decrypt_key``:
    the swap image key (default: the zero key); ``header_len``: the header length of a
    Precursor image made with ``--sig-length`` and no jump; ``args``: the args.bin a swap
    image or swap args belong to (their IniS programs get its PIDs and names). Raises
    FormatError for bytes that are none of the kinds, or whose framing cannot be decoded.
    """
    kind = identify(data)
    size = len(data)
    if kind == "args":
        return Examination(path, kind, size, args=decode(data, path=path))
    if kind == "swap-args":
        return Examination(path, kind, size, swap_args=_swap_args_for(data, path, args))
    if kind == "uf2":
        u = uf2.decode(data, path=path)
        body = u.data
        end = _natural_end(body)
        if not any(body[end:]):
            body = body[:end]
        inner = examine(body, path=f"{path} (UF2 payload)", keys=keys,
                        decrypt_key=decrypt_key, header_len=header_len, args=args)
        return Examination(path, kind, size, uf2=u, inner=inner)
    if kind in ("bao1x", "precursor-v1", "precursor-v2"):
        sig = (signed_precursor.parse_precursor(data, path=path, header_len=header_len)
               if kind.startswith("precursor") else signed_bao1x.parse_bao1x(data, path=path))
        verified, error = _verify(data, sig, keys, path)
        payload = signed.inner_image(data, sig)
        carries_args = (isinstance(sig, signed_precursor.PrecursorSignature)
                        and sig.version == signed_precursor.PRECURSOR_KERNEL) or (
            isinstance(sig, signed_bao1x.Bao1xSignature) and sig.function in _ARGS_FUNCTIONS)
        args = _inner_args(payload, path) if carries_args else None
        note = None if carries_args else f"{size_text(len(payload))} of code (not an args.bin)"
        return Examination(path, kind, size, signature=sig, verified=verified,
                           verify_error=error, args=args, payload=note,
                           warnings=sig.warnings)
    if kind.startswith("swap-"):
        image = swap_image.parse_swap_image(data, path=path)
        verified, error = (None, None) if image.signature is None else _verify(
            data, image.signature, keys, path)
        key_name = "zero" if decrypt_key is None else "given"
        try:
            plain = swap_image.decrypt_swap_image(
                data, image, key=decrypt_key or swap_image.ZERO_KEY, path=path)
        except VerificationError as exc:
            return Examination(path, kind, size, signature=image.signature,
                               verified=verified, verify_error=error, swap=image,
                               decrypt_key=key_name, decrypt_error=exc.message,
                               warnings=image.warnings)
        return Examination(path, kind, size, signature=image.signature, verified=verified,
                           verify_error=error, swap=image,
                           decrypt_key=key_name if image.encrypted else None,
                           swap_args=_swap_args_for(plain, f"{path} (swap args)", args),
                           warnings=image.warnings)
    raise FormatError("not a Xous file: no XArg tag, signature header, swap header or UF2 "
                      "block at its start", path=path, field="header", value=data[:8])


def args_layout_file(path: str | Path) -> XousLayout:
    """The layout of the args.bin a file holds: the file itself, or the args.bin inside a
    signed ``xous.img`` or bao1x kernel image (the signature is not required to match).
    FormatError when the file holds no args.bin."""
    found = examine(read_input(path), path=str(path))
    if found.inner is not None:
        found = found.inner
    if found.args is None:
        raise FormatError(f"holds no args.bin (it is a {_KIND_TEXT.get(found.kind, found.kind)})",
                          path=path, field="kind", value=found.kind)
    return found.args
