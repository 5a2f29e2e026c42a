"""Build an args.bin from files: read the ELFs, plan the image, write every output.

:func:`build_image` is what ``create-image`` and ``bootproof xous build`` run: it checks the
output names against the inputs, plans (:mod:`bootproof.builder.xous.image`) and writes
args.bin, the ``--map`` JSON, the ``--svg`` picture and, with swap, the encrypted swap
image, its UF2 and the plaintext debug image (:class:`SwapOutputs`) all together or not at
all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from bootproof.builder.elf import read_elf
from bootproof.builder.errors import InputError
from bootproof.builder.fileio import OutputSet, atomic_output, check_outputs
from bootproof.builder.layout import NamedRange
from bootproof.builder.xous.image import (
    InitProgram,
    SwapSetup,
    plan_image,
    swap_program,
    write_image,
)
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.programs import kernel_from_elf, minielf_from_elf
from bootproof.builder.xous.regions import MemoryMap

if TYPE_CHECKING:
    from bootproof.builder.xous.semver import SemVer


@dataclass(frozen=True)
class SwapOutputs:
    """The swap files to write and how to seal them: the encrypted image ``image``
    (``--swap-name``; its UF2 beside it, named by
    :func:`~bootproof.builder.xous.signed.uf2_name`), the plaintext ``debug`` image
    (``--swap-debug-name``), the signing ``seed`` (``--swap-key``), the partial nonce
    (from ``--git-rev``), the version record (``--git-describe``) and the anti-rollback
    value of the signature block."""

    image: Path
    seed: bytes
    partial_nonce: int
    semver: SemVer
    anti_rollback: int
    debug: Path | None = None

    @property
    def uf2(self) -> Path:
        # Imported here, as in _write_swap: `signed` loads the Ed25519 libraries.
        from bootproof.builder.xous.signed import uf2_name

        return Path(uf2_name(str(self.image)))

    def paths(self) -> list[tuple[str, Path]]:
        """Every file written, with the option that names it."""
        out = [("--swap-name", self.image), ("--swap-name (UF2)", self.uf2)]
        return out + ([("--swap-debug-name", self.debug)] if self.debug is not None else [])


def build_image(
    output: str | Path,
    kernel: str | Path,
    inits: Sequence[tuple[str, str | Path]],
    memory: MemoryMap,
    *,
    debug: bool = False,
    layout: str = "aligned",
    map_path: str | Path | None = None,
    svg_path: str | Path | None = None,
    sources: Sequence[str | Path] = (),
    swap: NamedRange | None = None,
    inis: Sequence[str | Path] = (),
    swap_outputs: SwapOutputs | None = None,
) -> XousLayout:
    """Read the ELFs, plan the image and write it atomically to ``output``.

    ``inits`` are ``(kind, path)`` pairs with kind ``IniE`` or ``IniF``. With ``map_path``
    the layout JSON is written there too, with ``svg_path`` its memory-map picture. ``swap``
    (the swap RAM) with ``inis`` (the ``--inis`` ELFs) adds swap (:func:`plan_image`);
    ``swap_outputs`` then says where the swap images go (required with ``swap``: the
    reference writes them whenever swap is active). ``sources`` are the other files read
    (the memory descriptions): no output may replace an input, and no two outputs may be
    the same file. Every file appears, or none.
    Returns the layout of what was written. On any error nothing is written (an existing
    ``output`` is left untouched) and the project's error is raised; the inputs are only read.
    """
    out_path = Path(output)
    inputs = [Path(kernel), *(Path(p) for _, p in inits), *(Path(p) for p in inis),
              *(Path(s) for s in sources)]
    outputs = [("output", out_path)] + ([("--map", Path(map_path))] if map_path else [])
    outputs += [("--svg", Path(svg_path))] if svg_path else []
    if swap is not None:
        if swap_outputs is None:
            raise InputError("swap is active: the swap image needs a file name",
                             field="--swap-name", value=None)
        outputs += swap_outputs.paths()
    elif inis:
        raise InputError("--inis programs need --swap", field="--inis", value=str(inis[0]))
    check_outputs(outputs, inputs)
    legacy = layout == "legacy"
    kern = kernel_from_elf(read_elf(kernel))
    progs = [InitProgram(kind, minielf_from_elf(read_elf(p), padded=not legacy))
             for kind, p in inits]
    setup = None if swap is None else SwapSetup(
        swap, tuple(swap_program(minielf_from_elf(read_elf(p))) for p in inis))
    plan = plan_image(kern, progs, memory, debug=debug, layout=layout, swap=setup)
    with OutputSet() as others:
        if plan.swap_args is not None and swap_outputs is not None:
            _write_swap(others, plan.swap_args, swap_outputs)
        if svg_path is not None:
            _write_svg(others, svg_path, plan.layout, out_path)
        with atomic_output(out_path) as fh:
            write_image(plan, fh)
            if map_path is not None:
                _write_map(others, map_path, plan.layout, fh)
    return plan.layout


def _write_svg(out: OutputSet, path: str | Path, layout: XousLayout, image: Path) -> None:
    # Imported here: only --svg draws (the renderer is not needed to build an image).
    from bootproof.builder.layout.svg import render

    out.write(path, render(layout.to_model(source=str(image)),
                           title=f"{image}: args.bin layout"))


def _write_map(out: OutputSet, path: str | Path, layout: XousLayout, image: BinaryIO) -> None:
    """The ``--map`` layout document, its items' sha256 taken from the image just written
    (read back from the still open output: args.bin is at most a flash's few MiB)."""
    import json  # here: only --map needs it (1.6 ms of start-up, -X importtime)

    image.flush()
    data = os.pread(image.fileno(), layout.file_size, 0)
    out.write(path, json.dumps(layout.to_model(data=data).to_json(), indent=2) + "\n")


def _write_swap(out: OutputSet, block: bytes, files: SwapOutputs) -> None:
    # Imported here: sealing loads cryptography and PyCryptodome (65 ms of create-image's
    # start-up by `python -X importtime`), which an image without swap never uses.
    from bootproof.builder.xous import swap_image

    image = swap_image.build_swap_image(block, seed=files.seed,
                                        partial_nonce=files.partial_nonce,
                                        semver=files.semver, anti_rollback=files.anti_rollback)
    out.write(files.image, image)
    out.write(files.uf2, swap_image.swap_uf2(image))
    if files.debug is not None:
        out.write(files.debug, swap_image.build_swap_debug_image(
            block, partial_nonce=files.partial_nonce))
