"""Cross-build the riscv32 guest programs (loader model, test kernel, init programs).

Sources live next to this module. Each build is cached under a directory keyed by a hash of
the compiler, the flags and every source's bytes, so a rebuild happens only when one of them
changes, and a half-written ELF is never left under its final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bootproof.harness.core.cache import cache_root
from bootproof.harness.core.resources import GUESTS, package_dir
from bootproof.harness.core.toolchain import find_tool, run_tool

#: The guest sources: this package's own directory, as installed.
SOURCE_DIR = package_dir(GUESTS)
CC = "riscv64-unknown-elf-gcc"
CFLAGS: tuple[str, ...] = (
    "-march=rv32imac_zicsr", "-mabi=ilp32", "-mcmodel=medany", "-mno-relax",
    "-O2", "-g0", "-ffreestanding", "-fno-builtin", "-fno-common", "-fno-pic",
    "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-Wall", "-Wextra",
    "-nostdlib", "-nostartfiles", "-static", "-Wl,--no-relax", "-Wl,--build-id=none",
    "-Wl,--no-warn-rwx-segments",  # the loader model runs in machine mode, unprotected
)

InitKind = Literal["small", "big", "xip"]
INIT_KINDS: tuple[InitKind, ...] = ("small", "big", "xip")


@dataclass(frozen=True)
class GuestSpec:
    """One guest ELF: its output name, sources, linker script and preprocessor defines."""

    name: str
    sources: tuple[str, ...]
    linker_script: str
    defines: tuple[str, ...] = ()

    def argv(self, output: Path) -> list[str]:
        """The compiler command line that builds this guest into ``output``."""
        args = [CC, *CFLAGS, f"-I{SOURCE_DIR}", f"-T{SOURCE_DIR / self.linker_script}"]
        args += [f"-D{d}" for d in self.defines]
        args += ["-o", str(output)]
        args += [str(SOURCE_DIR / s) for s in self.sources]
        args.append("-lgcc")
        return args


LOADER = GuestSpec("loader", ("loader_start.S", "loader.c", "common.c"), "loader.ld")
KERNEL = GuestSpec("kernel", ("kernel_start.S", "kernel.c", "common.c"), "kernel.ld")


def init_spec(name: str, kind: InitKind = "small", variant: int = 0) -> GuestSpec:
    """The spec of an init program called ``name`` (its ELF stem, which PNam records).

    ``small``: IniE with a little .data/.bss; ``big``: IniE whose .rodata, .data and .bss each
    span several pages; ``xip``: linked to run in place from flash (IniF). ``variant`` changes
    the data patterns so several programs differ. Raises ValueError on a bad name or kind.
    """
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"init program name {name!r}: use letters, digits, '_' and '-'")
    if kind not in INIT_KINDS:
        raise ValueError(f"init program kind {kind!r}: expected one of {INIT_KINDS}")
    defines = [f'PROG_NAME="{name}"', f"VARIANT={int(variant)}"]
    sources = ["init_start.S", "init.c", "common.c"]
    if kind == "big":
        defines.append("BIG=1")
        sources.append("init_big.S")
    script = "init_xip.ld" if kind == "xip" else "init.ld"
    return GuestSpec(name, tuple(sources), script, tuple(defines))


def default_cache_dir() -> Path:
    """``guests/`` in the bootproof cache (:func:`bootproof.harness.core.cache.cache_root`:
    ``$BOOTPROOF_CACHE``, else ``$XDG_CACHE_HOME/bootproof``, else ``~/.cache/bootproof``)."""
    return cache_root() / "guests"


def _key(spec: GuestSpec, compiler: Path) -> str:
    h = hashlib.sha256()
    h.update(str(compiler).encode())
    h.update(str(compiler.stat().st_mtime_ns).encode())
    h.update("\0".join(spec.argv(Path("out"))).encode())
    files = sorted({*spec.sources, spec.linker_script, "common.h"})
    for f in files:
        h.update(f.encode() + b"\0")
        h.update((SOURCE_DIR / f).read_bytes())
    return h.hexdigest()[:20]


def build(spec: GuestSpec, cache_dir: Path | None = None) -> Path:
    """Build ``spec`` (or reuse the cached build) and return the ELF's path.

    The ELF is ``<cache>/<key>/<name>.elf``. Raises InfrastructureError when the cross
    compiler is missing and ToolError (with the compiler output) when compilation fails.
    """
    compiler = find_tool(CC)
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    out_dir = cache / _key(spec, compiler)
    target = out_dir / f"{spec.name}.elf"
    if target.is_file():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".elf", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        run_tool(spec.argv(tmp), cwd=out_dir)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def build_loader(cache_dir: Path | None = None) -> Path:
    """The loader model ELF (machine mode, linked at 0x80000000)."""
    return build(LOADER, cache_dir)


def build_kernel(cache_dir: Path | None = None) -> Path:
    """The test kernel ELF (text 0xffd00000, data 0xffd80000)."""
    return build(KERNEL, cache_dir)


def build_init(
    name: str, kind: InitKind = "small", variant: int = 0, cache_dir: Path | None = None
) -> Path:
    """An init program ELF named ``<name>.elf``; see :func:`init_spec`."""
    return build(init_spec(name, kind, variant), cache_dir)
