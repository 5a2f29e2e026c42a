"""``bootproof xous inspect`` and ``bootproof xous read-tags``: decode a Xous file.

``inspect`` decodes anything the Xous tools write (args.bin, signed images, swap images,
UF2) as a report or JSON; ``read-tags`` prints the tags line for line as xous-read-tags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import EXIT_FAILED, EXIT_USAGE, HelpFormatter
from bootproof.builder.errors import InputError
from bootproof.builder.fileio import atomic_write, check_outputs, read_input
from bootproof.builder.numbers import parse_size
from bootproof.builder.xous.read_tags import read_tags_bytes

INSPECT_DESCRIPTION = """\
Decode a Xous file: an args.bin (page-aligned or 2020 legacy layout: every tag with its
CRC-16/X-25, memory regions, swap, programs and their sections, payload ranges, and
warnings for anything the Xous loader would reject); a signed Precursor xous.img (v2,
Ed25519ph) or loader.bin (v1, Ed25519) or a bao1x image (every field of the signature
block, the signature checked, the args.bin inside decoded); a swap image (encrypted,
signed or not, or the plaintext debug copy: header, signature, pages decrypted, swap args
decoded) or a swap args block; a UF2 file of any of these.

Signatures are checked against --key, else against every known public key (bao1, bao2,
beta, the developer key, the testing key). A signature by the developer or testing key is
flagged loudly: their secrets are published, so anyone can make such an image.

exit status: 0 when the signature (if any) matches, every page decrypts, every CRC matches
and nothing would be rejected; 1 otherwise (the full decode is printed either way); 2 when
the file cannot be decoded at all.

JSON (--json): an args.bin prints its layout (format "xous-args": the "detail" of the
layout document --map writes);
every other kind prints format "xous-inspect" with its signature, verification, swap
header, decryption, and the args/swap args inside.

example:
  bootproof xous inspect args.bin
  bootproof xous inspect args.bin --json > args.json
  bootproof xous inspect xous.img --key signing.pub
  bootproof xous inspect swap.img --decrypt-key 00..00
  bootproof xous inspect args.bin --svg args.svg
"""


def run_inspect(args: argparse.Namespace) -> int:
    """Decode and print a Xous file (table or JSON); raises FormatError on garbage.

    Returns 1 when a signature does not match, a page does not decrypt, a tag's CRC does
    not match or the loader would reject the image."""
    # Imported here: examine and signing_inputs load cryptography and PyCryptodome (65 ms
    # by `python -X importtime`), json 1.6 ms more; building an image needs none of them.
    import json

    from bootproof.builder.xous.examine import args_layout_file, examine
    from bootproof.builder.xous.signing_inputs import aes_key, public_key

    keys = [public_key(k) for k in args.key] or None
    header_len = (parse_size(args.sig_length, field="--sig-length")
                  if args.sig_length is not None else None)
    if args.svg is not None:
        check_outputs([("--svg", Path(args.svg))],
                      [Path(p) for p in (args.file, args.args) if p is not None])
    owner = args_layout_file(args.args) if args.args else None
    found = examine(read_input(args.file), path=args.file, keys=keys,
                    decrypt_key=aes_key(args.decrypt_key), header_len=header_len, args=owner)
    if args.svg is not None:
        if found.args is None:
            raise InputError(f"holds no args.bin to draw (a {found.kind})", path=args.file,
                             field="--svg", value=args.svg)
        from bootproof.builder.layout.svg import render

        atomic_write(args.svg, render(found.args.to_model(source=args.file),
                                      title=f"{args.file}: args.bin layout"))
    if args.json:
        data = found.args.to_json() if found.kind == "args" and found.args else found.to_json()
        print(json.dumps(data, indent=2))
    elif found.kind == "args" and found.args is not None:
        print(found.args.to_table())
    else:
        print(found.to_text())
    problems = found.problems()
    if problems:
        print(f"{args.file}: {len(problems)} problem(s): " + "; ".join(problems),
              file=sys.stderr)
        return EXIT_FAILED
    return 0


READ_TAGS_DESCRIPTION = """\
Print the tags of FILE exactly as xous-read-tags does (spec: xous-addendum §4), line for
line, for scripts that parse that output: a 'Found Xous Args Size' line for an XArg, then
per tag its fourcc, size, stored CRC, body words and 'CRC: OK' or 'CRC: FAIL (calc: ..)'.
Like the tool, it walks from byte 0 and skips no signature header: give it args.bin (or a
debug swap image without its first 4096 bytes). Where the tool panics (the walk passes the
tag block's end, the file ends inside a tag) the lines before are printed, then the reason
on stderr, and the exit status is 2.

example:
  bootproof xous read-tags args.bin
"""


def run_read_tags(args: argparse.Namespace) -> int:
    """Body of ``bootproof xous read-tags``; 2 where the tool panics."""
    out = read_tags_bytes(read_input(args.file))
    sys.stdout.write(out.text)
    if out.error is not None:
        print(f"{args.file}: {out.error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def register_inspect(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``inspect`` and ``read-tags`` to the ``bootproof xous`` subcommands."""
    insp = subparsers.add_parser("inspect", help="decode an args.bin, a signed image, a swap "
                                 "image or a UF2 of them", description=INSPECT_DESCRIPTION,
                                 formatter_class=HelpFormatter)
    insp.add_argument("file", metavar="FILE", help="the file to decode")
    insp.add_argument("--json", action="store_true", help="print the result as JSON")
    insp.add_argument("--key", action="append", default=[], metavar="KEY",
                      help="public key to verify against: 64 hex digits, or a file (PEM "
                           "PUBLIC KEY or PRIVATE KEY, or 32 raw bytes); repeatable "
                           "(default: every known key)")
    insp.add_argument("--decrypt-key", metavar="KEY",
                      help="AES-256 key of a swap image: 64 hex digits or a 32-byte file "
                           "(default: the zero key create-image encrypts with)")
    insp.add_argument("--args", metavar="ARGS.bin",
                      help="the args.bin (or signed image) a swap image belongs to: its "
                           "IniS programs get their PIDs and names, and the Swap tag and "
                           "PNam are checked against the swap args")
    insp.add_argument("--sig-length", metavar="N",
                      help="header length of a Precursor image signed with --sig-length and "
                           "no jump (default 4096; a jump records its own)")
    insp.add_argument("--svg", metavar="FILE.svg",
                      help="also draw the args.bin's layout (the file itself, or the one "
                           "inside a signed image or UF2) as an SVG memory map")
    insp.set_defaults(func=run_inspect)
    tags = subparsers.add_parser("read-tags", help="print the tags as xous-read-tags does",
                                 description=READ_TAGS_DESCRIPTION,
                                 formatter_class=HelpFormatter)
    tags.add_argument("file", metavar="FILE", help="args.bin (xous_presign.img) to read")
    tags.set_defaults(func=run_read_tags)
