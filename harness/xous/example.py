"""The bundled Xous example: our guests built into an args.bin by the builder.

:func:`build_example` cross-builds the test kernel and a set of init programs (small,
multi-page and execute-in-place, see :func:`example_programs`) and packs them with the
builder; :func:`check_checksums` is the demo's last step, each init program's reported
checksum against its ELF (:func:`elf_checksum`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from bootproof.builder.xous.build import build_image
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.regions import read_csr_csv, read_svd, reduce_regions
from bootproof.harness.core.boards import CONFIGS_DIR
from bootproof.harness.core.errors import LayoutMismatch
from bootproof.harness.core.stages import Stage
from bootproof.harness.guests.build import InitKind, build_init, build_kernel
from bootproof.harness.xous.flow import XousBootResult

#: The board's LiteX-style memory descriptions, fed to the builder's --csv / --svd.
BOARD_CSV = CONFIGS_DIR / "riscv32-virt" / "csr.csv"
BOARD_SVD = CONFIGS_DIR / "riscv32-virt" / "soc.svd"
_KINDS: tuple[InitKind, ...] = ("small", "big", "xip")


@dataclass(frozen=True)
class Example:
    """A built example image: the args.bin, the builder's JSON map and the guest ELFs."""

    args_bin: Path
    map_json: Path
    kernel: Path
    inits: tuple[Path, ...]   # IniE programs, in --init order
    inifs: tuple[Path, ...]   # IniF programs, in --inif order

    @property
    def programs(self) -> tuple[Path, ...]:
        """The init program ELFs in PID order (2, 3, ...): IniE first, then IniF."""
        return self.inits + self.inifs

    def expected_layout(self) -> XousLayout:
        """The builder's layout report (raises FormatError if the map is malformed)."""
        return XousLayout.read(self.map_json)


def example_programs(count: int) -> list[tuple[str, InitKind, int]]:
    """``count`` init programs as (name, kind, variant), cycling small, big, xip."""
    if count < 1:
        raise ValueError("an example needs at least one init program")
    return [(f"init{i}_{_KINDS[(i - 1) % 3]}", _KINDS[(i - 1) % 3], i)
            for i in range(1, count + 1)]


def build_example(workdir: Path, *, count: int = 3, memory: str = "csv", debug: bool = False,
                  cache_dir: Path | None = None) -> Example:
    """Cross-build the test kernel and ``count`` init programs, then build ``args.bin`` in
    ``workdir`` with the builder (``--csv`` or ``--svd`` of the riscv32 virt board; ``-d``
    when ``debug``).

    Raises InfrastructureError (cross compiler missing), the builder's own errors (an image
    that cannot be built) or ValueError (bad ``count``/``memory``).
    """
    if memory not in ("csv", "svd"):
        raise ValueError(f"memory must be 'csv' or 'svd', not {memory!r}")
    kernel = build_kernel(cache_dir)
    inits: list[Path] = []
    inifs: list[Path] = []
    for name, kind, variant in example_programs(count):
        elf = build_init(name, kind, variant, cache_dir)
        (inifs if kind == "xip" else inits).append(elf)
    workdir.mkdir(parents=True, exist_ok=True)
    args_bin = workdir / "args.bin"
    map_json = workdir / "args.json"
    source = BOARD_CSV if memory == "csv" else BOARD_SVD
    regions = read_csr_csv(source) if memory == "csv" else read_svd(source)
    build_image(args_bin, kernel,
                [*(("IniE", elf) for elf in inits), *(("IniF", elf) for elf in inifs)],
                reduce_regions(regions, source=str(source)), debug=debug, map_path=map_json)
    return Example(args_bin, map_json, kernel, tuple(inits), tuple(inifs))


def elf_checksum(elf: Path) -> int:
    """The checksum an init program reports: FNV-1a (32 bit) over the bytes of its
    ``.text``, ``.rodata`` and ``.data`` sections, in that order, as stored in the ELF."""
    h = 0x811C9DC5
    with elf.open("rb") as f:
        ef = ELFFile(f)
        for name in (".text", ".rodata", ".data"):
            sec = ef.get_section_by_name(name)
            for byte in b"" if sec is None else sec.data():
                h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def check_checksums(result: XousBootResult, example: Example) -> tuple[Stage, ...]:
    """Each init program's reported checksum against its ELF: one ``checksum`` stage per
    program (stamped with the boot's last stage: they are checked on the finished boot).

    Raises LayoutMismatch naming the first program whose checksum differs.
    """
    when = result.stages[-1].seconds if result.stages else 0.0
    stages = []
    for marker, elf in zip(result.markers, example.programs, strict=True):
        want = elf_checksum(elf)
        if marker.checksum != want:
            raise LayoutMismatch(
                f"PID {marker.pid} reported checksum 0x{marker.checksum:08x}, its ELF "
                f"{elf.name} gives 0x{want:08x}",
                differences=[f"programs[pid={marker.pid}].checksum"],
                log_path=result.log_path)
        stages.append(Stage("checksum", when,
                            f"PID {marker.pid} {marker.name}: 0x{want:08x} equals its ELF"))
    return tuple(stages)
