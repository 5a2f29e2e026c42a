"""The files a config names, checked under the ``-d`` directory before anything is built.

:func:`check_files` checks that each exists and is what its variable needs (a kernel, a
cpio ramdisk, a device tree...), by its content (:mod:`bootproof.builder.formats.identify`),
as ImageBuilder does with ``file -L``; :func:`check_script_path` refuses names the U-Boot
shell would split or expand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats.identify import HEAD_SIZE, file_kind, kind_of
from bootproof.builder.formats.magic import Magic
from bootproof.builder.xen.config.model import ImageBuilderConfig

_UNSAFE_NAME = re.compile(r"[\s;\"'$#\\]")


def check_script_path(text: str, *, field: str, what: str = "file names") -> None:
    """Refuse a path that the U-Boot shell would split or expand when it stands in a
    ``load``/``tftpb`` line (blanks, quotes, ``;``, ``$``, ``#``, ``\\``).
    Raises :class:`InputError` naming ``field`` and the text."""
    if _UNSAFE_NAME.search(text):
        raise InputError(f"{what} in a U-Boot script cannot contain blanks, quotes, "
                         "';', '$', '#' or '\\'", path=text if what == "file names" else None,
                         field=field, value=text)


_KERNEL_KINDS = (
    "arm64-image",
    "arm-zimage",
    "uimage",
    "elf",
    "pe",
    "data",
    "gzip-arm64-image",
    "gzip-data",
    "gzip-elf",
    "gzip-uimage",
    "zstd-arm64-image",
    "zstd-data",
    "zstd-elf",
    "zstd-uimage",
)
_RAMDISK_KINDS = ("cpio", "gzip-cpio", "zstd-cpio")


def zstd_kind(path: Path) -> str:
    """What a zstd-compressed file holds (``zstd-cpio``...), as upstream ImageBuilder checks
    it since 2024-12 (``zstdcat``, then the type check), through the one decompressor the
    rootfs archives use (:mod:`bootproof.builder.formats.compression`): the whole stream
    is checked, only its head is kept.

    Raises :class:`~bootproof.builder.errors.InputError` when the tool is missing and
    :class:`~bootproof.builder.errors.FormatError` when the data is corrupt.
    """
    # Imported here: the decompressor loads subprocess and tempfile (7 ms of every
    # uboot-script-gen, python -X importtime), needed only for zstd inputs.
    from bootproof.builder.formats.compression import decompressed

    with decompressed(path, Magic.ZSTD, trailing_limit=1 << 62) as stream:
        head = stream.read(HEAD_SIZE)
    return f"zstd-{kind_of(head)}"


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_files` found: every named file with its size and kind."""

    sizes: Mapping[str, int]
    kinds: Mapping[str, str]


def check_files(cfg: ImageBuilderConfig, root: Path, *, calc: bool = False) -> FileCheck:
    """Check that every file the config names for booting exists under ``root`` and has the
    right type: kernels/Xen (arm64 Image, zImage, uImage, ELF, PE or raw data, never a DTB,
    cpio or text; also gzip- or zstd-compressed), ramdisks (cpio, gzip- or
    zstd-compressed cpio), DTBs (DTB magic). With ``calc`` (``-s``) a missing file is
    skipped, as upstream does (U-Boot measures it at boot); DT overlays and the
    APPEND_EXTRA_CMDS text must still exist.

    Names the U-Boot shell would split or expand (blanks, quotes, ``;``, ``$``...) are
    refused. Raises :class:`InputError` naming the variable and the path.
    """
    sizes: dict[str, int] = {}
    kinds: dict[str, str] = {}

    def check(var: str, rel: str | None, allowed: tuple[str, ...], what: str,
              required: bool = False) -> None:
        if rel is None:
            return
        check_script_path(rel, field=var)
        p = root / rel
        if calc and not required and not p.exists():
            return
        if not p.is_file():
            reason = "does not exist" if not p.exists() else "is not a regular file"
            raise InputError(f"file {reason} (under {root})", path=rel, field=var, value=rel)
        kind = file_kind(p)
        if kind == "zstd":
            try:
                kind = zstd_kind(p)
            except (InputError, FormatError) as exc:
                raise InputError(f"zstd-compressed, and its content cannot be checked: {exc}",
                                 path=rel, field=var, value=rel) from exc
        if kind not in allowed:
            raise InputError(f"is {kind}, expected {what}", path=rel, field=var, value=rel)
        sizes[rel] = p.stat().st_size
        kinds[rel] = kind

    kernel = "a kernel image"
    check("XEN", cfg.xen, _KERNEL_KINDS, kernel)
    check("DOM0_KERNEL", cfg.dom0_kernel, _KERNEL_KINDS, kernel)
    check("DOM0_RAMDISK", cfg.dom0_ramdisk, _RAMDISK_KINDS, "a cpio ramdisk (plain/gzip/zstd)")
    if cfg.xen_mode:
        check("XEN_POLICY", cfg.xen_policy, ("data",), "an XSM/FLASK policy binary")
    check("LINUX", cfg.linux, _KERNEL_KINDS, kernel)
    check("LINUX_RAMDISK", cfg.linux_ramdisk, _RAMDISK_KINDS, "a cpio ramdisk (plain/gzip/zstd)")
    check("DEVICE_TREE", cfg.device_tree, ("dtb",), "a device tree blob")
    for d in cfg.domus:
        if not d.booted:
            continue
        check(f"DOMU_KERNEL[{d.index}]", d.kernel, _KERNEL_KINDS, kernel)
        check(
            f"DOMU_RAMDISK[{d.index}]",
            d.ramdisk,
            _RAMDISK_KINDS,
            "a cpio ramdisk (plain/gzip/zstd)",
        )
        check(f"DOMU_PASSTHROUGH_DTB[{d.index}]", d.passthrough_dtb, ("dtb",), "a device tree blob")
    for n, ov in enumerate(cfg.dt_overlays):
        check(f"DT_OVERLAY[{n}]", ov, ("dtb",), "a device tree overlay blob", required=True)
    # -u: mkimage -K writes the public key into it (a missing one was a traceback)
    check("FIT_ENC_UB_DTB", cfg.fit_enc_ub_dtb, ("dtb",), "U-Boot's control device tree blob")
    if cfg.bitstream is not None:
        check("BITSTREAM", cfg.bitstream, ("data", "elf"), "an FPGA bitstream")
    if cfg.append_extra_cmds is not None:
        p = root / cfg.append_extra_cmds
        try:
            text = p.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read: {exc.strerror}",
                path=cfg.append_extra_cmds,
                field="APPEND_EXTRA_CMDS",
                value=cfg.append_extra_cmds,
            ) from exc
        if b"\0" in text or not text.isascii():
            raise InputError(
                "is not ASCII text",
                path=cfg.append_extra_cmds,
                field="APPEND_EXTRA_CMDS",
                value=cfg.append_extra_cmds,
            )
    return FileCheck(sizes=sizes, kinds=kinds)
