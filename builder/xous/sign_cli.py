"""``bootproof xous sign``: the ``xous-sign-image`` equivalent (spec addendum §3.1).

The same options as the reference: a part (loader, kernel) is signed only when its output
is named, the loader first. Without ``--bao1x`` the loader becomes a Precursor version 1
image (``loader.bin``, pure Ed25519) and the kernel a version 2 image (``xous.img``,
Ed25519ph); with ``--bao1x`` both get a bao1x v1 block and a UF2 beside them.

Differences, all on the side of refusing nothing the reference accepts: the keys default
to the developer key built in (the reference reads ``devkey/dev.key`` from the working
directory, the same key); an unparsable ``--antirollback-override`` is an error (the
reference silently ignores it); the kernel UF2 uses the ``kernel`` address when no
``--function-code`` is given (the reference stops with ``UF2 Image Requires a function
code``). Everything is checked before anything is written, and every output appears, or
none.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import HelpFormatter
from bootproof.builder.errors import InputError
from bootproof.builder.fileio import OutputSet, check_outputs, read_input
from bootproof.builder.numbers import parse_size
from bootproof.builder.xous.keys import BAO1X_PUBKEY_SLOTS, TESTING_KEY

# The signing modules load PyCryptodome and cryptography (about 0.1 s): they are imported
# when a command runs, not when the command line is built (``bootproof --help``).

SIGN_DESCRIPTION = """\
Sign a Xous loader and/or kernel image as xous-sign-image does (spec: xous-addendum §3).
A part is signed only when its output is named (--loader-output, --kernel-output).

  Precursor (default): loader -> loader.bin, version 1, pure Ed25519 over the payload and
  a 40-byte trailer; kernel (args.bin) -> xous.img, version 2, Ed25519ph. The header is
  --sig-length bytes (4096), optionally after a jump (--with-jump).
  bao1x (--bao1x): a 768-byte bao1x v1 block (Ed25519ph, function code, anti-rollback,
  version records, the four public-key slots) in front of the payload, and a .uf2 beside
  each output (its name: the output's last 3 characters replaced by 'uf2').

--defile (or the reference's positional word) flips one signed bit after signing, for
negative tests: such an image must fail `bootproof xous inspect`.
The keys default to the xous-core developer key, built in: its secret is public, so an
image signed with it proves nothing about who made it.

example:
  bootproof xous sign --kernel-image args.bin --kernel-output xous.img \\
      --git-describe v0.9.8-791 --min-xous-ver v0.9.8-791
  bootproof xous sign --bao1x --function-code kernel --kernel-image args.bin \\
      --kernel-output kernel.img --antirollback-override 1 --git-describe v0.10.0
"""

_TARGET = Path("target") / "riscv32imac-unknown-none-elf" / "release"


@dataclass(frozen=True)
class _Part:
    """One part to sign: which (loader/kernel), input, output, key and function."""

    name: str
    image: Path
    output: Path
    key: str | None
    function: str


def _parts(args: argparse.Namespace) -> list[_Part]:
    parts = []
    if args.loader_output:
        parts.append(_Part("loader", Path(args.loader_image), Path(args.loader_output),
                           args.loader_key, args.function_code or "loader"))
    if args.kernel_output:
        parts.append(_Part("kernel", Path(args.kernel_image), Path(args.kernel_output),
                           args.kernel_key, args.function_code or "kernel"))
    if not parts:
        raise InputError("nothing to sign: name --loader-output and/or --kernel-output",
                         field="--kernel-output")
    return parts


def _uf2_name(output: Path) -> Path:
    from bootproof.builder.xous.signed import uf2_name

    return Path(uf2_name(str(output)))


def _check_names(parts: list[_Part], bao1x: bool) -> list[tuple[str, Path]]:
    """Every file to write, after the reference's name rules for UF2 outputs."""
    outputs: list[tuple[str, Path]] = []
    for part in parts:
        option = f"--{part.name}-output"
        outputs.append((option, part.output))
        if bao1x:
            suffixes = (".img", ".bin") if part.name == "loader" else (".img",)
            if part.output.suffix not in suffixes:
                raise InputError(f"a bao1x {part.name} output must end in "
                                 f"{' or '.join(suffixes)} (its UF2 name replaces the last 3 "
                                 "characters)", field=option, value=str(part.output))
            outputs.append((f"{option} (UF2)", _uf2_name(part.output)))
    check_outputs(outputs, [part.image for part in parts])
    return outputs


def _pubkeys(fake: bool) -> tuple[tuple[bytes, bytes], ...]:
    if not fake:
        return BAO1X_PUBKEY_SLOTS
    # As the reference: random keys in slots 0-2 (never reproducible), the testing key in 3.
    return (*((tag, os.urandom(32)) for tag, _ in BAO1X_PUBKEY_SLOTS[:3]),
            (BAO1X_PUBKEY_SLOTS[3][0], TESTING_KEY.public))


def run_sign(args: argparse.Namespace) -> int:
    """Body of ``bootproof xous sign``; returns 0 or raises the project's errors."""
    from bootproof.builder.xous import signed_bao1x, signed_precursor
    from bootproof.builder.xous.signing_inputs import (
        anti_rollback,
        parse_version,
        signing_seed,
        version,
    )

    parts = _parts(args)
    _check_names(parts, args.bao1x)
    min_version = parse_version(args.min_xous_ver, "--min-xous-ver")
    semver = version(args.git_describe)
    header_len = parse_size(args.sig_length, field="--sig-length")
    defile = args.defile or args.defile_word is not None
    results: list[tuple[_Part, bytes, str]] = []
    for part in parts:
        payload = read_input(part.image)
        seed, key_name = signing_seed(part.key, f"--{part.name}-key")
        if args.bao1x:
            function = signed_bao1x.function_code(part.function)
            data = signed_bao1x.sign_bao1x(
                payload, seed, function=function,
                anti_rollback=anti_rollback(part.function, args.antirollback_override),
                min_version=min_version, semver=semver, pubkeys=_pubkeys(args.fake_pubkeys),
                defile=defile)
            what = f"bao1x v1, function {part.function}"
        else:
            v = (signed_precursor.PRECURSOR_LOADER if part.name == "loader"
                 else signed_precursor.PRECURSOR_KERNEL)
            data = signed_precursor.sign_precursor(
                payload, seed, version=v, min_version=min_version, semver=semver,
                header_len=header_len, with_jump=args.with_jump, defile=defile)
            what = f"Precursor v{v}"
        results.append((part, data, f"{what}, key: {key_name}"))
    with OutputSet() as out:
        for part, data, _ in results:
            out.write(part.output, data)
            if args.bao1x:
                out.write(_uf2_name(part.output), signed_bao1x.uf2_for(data, part.function))
    for part, data, what in results:
        print(f"Signed {part.name} {part.image} -> {part.output} ({len(data)} bytes; {what}"
              + ("; DEFILED: it must fail verification" if defile else "") + ")")
        if args.bao1x:
            print(f"Created UF2 at {_uf2_name(part.output)}")
    if any(p.key is None for p in parts):
        print("note: signed with the developer key (its secret is public)", file=sys.stderr)
    return 0


def register_sign(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``sign`` to the ``bootproof xous`` subcommands."""
    p = subparsers.add_parser("sign", help="sign a loader or kernel image (xous-sign-image)",
                              description=SIGN_DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("--loader-image", default=str(_TARGET / "loader_presign.bin"),
                   metavar="FILE", help="loader to sign (default: %(default)s)")
    p.add_argument("--kernel-image", default=str(_TARGET / "xous_presign.img"),
                   metavar="FILE", help="kernel args.bin to sign (default: %(default)s)")
    p.add_argument("--loader-key", metavar="PEM",
                   help="PKCS#8 Ed25519 key for the loader (default: the developer key)")
    p.add_argument("--kernel-key", metavar="PEM",
                   help="PKCS#8 Ed25519 key for the kernel (default: the developer key)")
    p.add_argument("--loader-output", metavar="FILE", help="signed loader to write")
    p.add_argument("--kernel-output", metavar="FILE", help="signed kernel image to write")
    p.add_argument("--min-xous-ver", default="v0.9.8-790", metavar="VERSION",
                   help="minimum Xous version recorded (default: %(default)s)")
    p.add_argument("--git-describe", metavar="VERSION",
                   help="version recorded (default: `git describe` in the working directory)")
    p.add_argument("--with-jump", action="store_true",
                   help="Precursor: start the header with a jump over it")
    p.add_argument("--sig-length", default="4096", metavar="N",
                   help="Precursor: header length (default: %(default)s)")
    p.add_argument("--bao1x", action="store_true", help="bao1x v1 format (and UF2 files)")
    p.add_argument("--function-code", metavar="NAME",
                   help="bao1x: what the image is: boot0, boot1, loader, baremetal, kernel, "
                        "app or swap (default: loader / kernel per part)")
    p.add_argument("--antirollback-override", metavar="N",
                   help="bao1x: anti-rollback value (default: ./signing/anti-rollback.hjson)")
    p.add_argument("--fake-pubkeys", action="store_true",
                   help="bao1x: random keys in slots 0-2, the testing key in slot 3")
    p.add_argument("--defile", action="store_true",
                   help="flip one signed bit after signing (negative tests)")
    p.add_argument("defile_word", nargs="?", metavar="defile",
                   help="any word here also defiles (the reference's positional argument)")
    p.set_defaults(func=run_sign)
