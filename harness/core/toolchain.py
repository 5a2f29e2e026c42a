"""What the harness adds to the builder's process runner: where each program comes from.

:func:`find_tool` and :func:`run_tool` turn a missing program into an
:class:`~bootproof.harness.core.errors.InfrastructureError` that names the program and the apt
package to install (the machine, not the check, is broken: exit status 3). Running itself is
:func:`bootproof.builder.tools.run_tool`'s: an argument list, a timeout, and a
:class:`~bootproof.builder.errors.ToolError` carrying the command, its output and exit status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from bootproof.builder import tools
from bootproof.builder.errors import ToolNotFoundError
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


def missing_program(program: str, argv: Sequence[str] = ()) -> InfrastructureError:
    """The error for a program that is not there: names it and its apt package, if known."""
    return InfrastructureError(
        "program not found on PATH" if "/" not in program else "program not found",
        program=program, package=apt_package(program), argv=argv,
    )


def find_tool(name: str) -> Path:
    """Locate ``name`` on ``PATH`` (or check it, when it contains a ``/``).

    Returns the absolute path of the executable. Raises
    :class:`~bootproof.harness.core.errors.InfrastructureError` naming the program and the apt
    package that provides it when it cannot be found.
    """
    found = shutil.which(name)
    if found is None:
        raise missing_program(name)
    return Path(found).resolve()


def run_tool(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TOOL_TIMEOUT,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (a list, no shell) with :func:`bootproof.builder.tools.run_tool`,
    capturing stdout and stderr as bytes; returns the completed process (exit status 0).

    Raises :class:`~bootproof.harness.core.errors.InfrastructureError` (with the apt package)
    when the program is missing, and :class:`~bootproof.builder.errors.ToolError` carrying the
    command line, the output and the exit status when it fails or runs longer than
    ``timeout`` seconds (it is killed then).
    """
    try:
        return tools.run_tool(argv, cwd=cwd, stdin=input, timeout=timeout, text=False)
    except ToolNotFoundError as exc:
        raise missing_program(exc.argv[0], exc.argv) from exc
