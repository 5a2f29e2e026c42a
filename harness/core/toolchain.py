"""Finding and running the external programs a boot needs (QEMU, cross compilers, mkimage...).

:func:`find_tool` turns a missing program into an
:class:`~bootproof.harness.core.errors.InfrastructureError` that names the program and the apt
package to install; :func:`run_tool` runs an argument list (never a shell string) and turns a
failure into a :class:`~bootproof.builder.errors.ToolError` that keeps the command and its output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from bootproof.builder.errors import ToolError
from bootproof.harness.core.errors import InfrastructureError

#: Which Debian package provides each program the project runs.
APT_PACKAGES: Mapping[str, str] = MappingProxyType({
    "qemu-system-riscv32": "qemu-system-misc",
    "qemu-system-riscv64": "qemu-system-misc",
    "qemu-system-aarch64": "qemu-system-arm",
    "qemu-system-arm": "qemu-system-arm",
    "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
    "riscv64-unknown-elf-objcopy": "binutils-riscv64-unknown-elf",
    "mkimage": "u-boot-tools",
    "dtc": "device-tree-compiler",
    "fdtput": "device-tree-compiler",
    "fdtget": "device-tree-compiler",
    "fdtoverlay": "device-tree-compiler",
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
    "mcopy": "mtools",
    "mmd": "mtools",
    "mkfs.vfat": "dosfstools",
    "mke2fs": "e2fsprogs",
    "sfdisk": "fdisk",
    "cpio": "cpio",
    "zstd": "zstd",
    "gdb-multiarch": "gdb-multiarch",
})

DEFAULT_TOOL_TIMEOUT = 300.0


def apt_package(program: str) -> str | None:
    """The apt package that provides ``program`` (a bare name or a path), if known."""
    return APT_PACKAGES.get(Path(program).name)


def find_tool(name: str) -> Path:
    """Locate ``name`` on ``PATH`` (or check it, when it contains a ``/``).

    Returns the absolute path of the executable. Raises
    :class:`~bootproof.harness.core.errors.InfrastructureError` naming the program and the apt
    package that provides it when it cannot be found.
    """
    found = shutil.which(name)
    if found is None:
        raise InfrastructureError(
            "program not found on PATH" if "/" not in name else "program not found",
            program=name,
            package=apt_package(name),
        )
    return Path(found).resolve()


def run_tool(
    argv: Sequence[str | Path],
    *,
    cwd: str | Path | None = None,
    timeout: float = DEFAULT_TOOL_TIMEOUT,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (a list, no shell), capturing stdout and stderr.

    The program is looked up with :func:`find_tool` first (so a missing program is an
    :class:`~bootproof.harness.core.errors.InfrastructureError`). Returns the completed process when
    it exits with status 0. Raises :class:`~bootproof.builder.errors.ToolError` carrying the command
    line and the combined output when it exits non-zero or runs longer than ``timeout`` seconds
    (the process is killed then).
    """
    args = [str(a) for a in argv]
    if not args:
        raise ValueError("run_tool needs a program to run")
    find_tool(args[0])
    try:
        proc = subprocess.run(
            args, cwd=cwd, input=input, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        raise ToolError(
            f"timed out after {timeout:g} s", argv=args,
            output=out.decode("utf-8", "replace"),
        ) from None
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        raise ToolError(
            "command failed", argv=args, output=out.decode("utf-8", "replace"),
            returncode=proc.returncode,
        )
    return proc
