"""What ``bootproof diff`` compares: any of four kinds of file, told apart by their content
(never by their name), each turned into the one layout model.

* a layout JSON (``"format": "bootproof-layout"``, what ``--map``/``--json`` write; the
  older per-target documents ``xous-args``, the Xen ``--map`` and the ``disk_image --json``
  are read through their targets' converters);
* an ``args.bin`` (starts with the ``XArg`` tag): decoded as ``bootproof xous inspect``
  does; a signed image holding one (Precursor ``xous.img``, bao1x, or a UF2 of them): the
  args.bin inside (no sha256: the items are not hashed there);
* a disk image (a DOS label or a GPT in its first sectors): its partition table, the
  files of its FAT partitions and the ext superblocks, read from the metadata only, so a
  1 GiB image costs a few KiB of reads;
* an ImageBuilder config (text of ``NAME=value`` lines): planned as ``xen script`` would,
  against the files of its directory, and nothing written.

Every failure is an :class:`~bootproof.builder.errors.InputError` naming the file, the
field and the value.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.layout.model import FORMAT, Layout

#: The kinds :func:`sniff` tells apart.
KINDS = ("layout", "args", "signed-args", "disk", "xen-config")
_HEAD = 4096
#: A shell assignment at the start of a line, as ImageBuilder configs are made of.
_ASSIGN = rb"^[ \t]*(export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*(\[[^\]\n]*\])?="


class Source(NamedTuple):
    """One side of the diff: the file, and the directory an ImageBuilder config's files are
    relative to (None: the config's own directory)."""

    path: Path
    directory: Path | None = None
    option: str = "--old-dir"


def _head(path: Path) -> bytes:
    if path.is_dir():
        raise InputError("is a directory: give a layout JSON, an args.bin, a disk image or "
                         "an ImageBuilder config (its directory goes to --old-dir/--new-dir)",
                         path=path)
    try:
        with open(path, "rb") as fh:
            return fh.read(_HEAD)
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=path) from exc


def sniff(path: Path, head: bytes | None = None) -> str:
    """Which of :data:`KINDS` the file is, from its first bytes. InputError when none."""
    from bootproof.builder.formats.partread import has_label  # small, pure

    data = _head(path) if head is None else head
    if data[:4] == b"XArg":
        return "args"
    if data.lstrip()[:1] == b"{":
        return "layout"
    if has_label(data[:512]):
        return "disk"
    if data and b"\0" not in data and re.search(_ASSIGN, data, re.MULTILINE):
        return "xen-config"
    if _signed_xous(path):
        return "signed-args"
    raise InputError("not a layout JSON, an args.bin (or a signed Xous image holding one), "
                     "a disk image or an ImageBuilder config", path=path, field="first bytes",
                     value=data[:16])


def _signed_xous(path: Path) -> bool:
    """Whether the file is a signed Xous image (Precursor ``xous.img``, bao1x) or a UF2 of
    one, which hold an args.bin (the Xous identifier is imported only for files none of
    the other kinds matched)."""
    from bootproof.builder.xous.identify import identify

    try:
        if path.stat().st_size > 256 << 20:
            return False
        return identify(path.read_bytes()) in ("uf2", "bao1x", "precursor-v1",
                                               "precursor-v2")
    except OSError:
        return False


def load(source: Source) -> Layout:
    """The layout of one side (see the module docstring)."""
    path = source.path
    head = _head(path)
    kind = sniff(path, head)
    if kind != "xen-config" and source.directory is not None:
        raise InputError(f"a directory applies to an ImageBuilder config only; this file "
                         f"is a {kind}", path=path, field=source.option,
                         value=str(source.directory))
    if kind == "layout":
        return load_json(path)
    if kind == "args":
        return load_args(path)
    if kind == "signed-args":
        from bootproof.builder.xous.examine import args_layout_file

        return _model(args_layout_file(path), path, source=str(path))
    if kind == "disk":
        return load_disk(path)
    return load_xen(path, source.directory, source.option)


def load_json(path: Path) -> Layout:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError("layout JSON is not UTF-8", path=path, field="byte",
                         value=exc.start) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, field="line",
                         value=exc.lineno) from exc
    if isinstance(data, dict) and data.get("format") != FORMAT:
        return _old_document(data, path)
    return Layout.from_json(data, path=str(path))


def _old_document(data: dict[str, Any], path: Path) -> Layout:
    """A document an earlier bootproof wrote (Xous, Xen or disk, per target), converted as
    its builder converts it today (:mod:`bootproof.builder.layout_files`; imported only
    here: it imports every planner, which the layout document does not need)."""
    from bootproof.builder.layout_files import layout_from_data

    return layout_from_data(data, path=str(path))


def _model(target: Any, path: Path, **kwargs: Any) -> Layout:
    """``target.to_model(**kwargs)``, the converter each target's layout offers."""
    try:
        layout: Layout = target.to_model(**kwargs)
    except FormatError as exc:
        exc.path = exc.path or str(path)
        raise
    return layout


def load_args(path: Path) -> Layout:
    from bootproof.builder.xous.inspect import decode

    data = path.read_bytes()
    return _model(decode(data, path=str(path)), path, data=data, source=str(path))


def load_xen(config: Path, directory: Path | None, option: str = "--old-dir") -> Layout:
    """Plan the config against ``directory`` (default: the config's own directory) as
    ``bootproof xen script -c CONFIG -d DIRECTORY`` would, writing nothing."""
    # Imported here: the Xen planner and its config reader cost more start-up than the
    # whole diff of two layout JSONs.
    from bootproof.builder.xen.config import load_config
    from bootproof.builder.xen.generator import (
        check_config,
        check_inputs,
        dtb_made_later,
        place,
        with_partial_dtbs,
    )
    from bootproof.builder.xen.host_dtb import load_host_dtb
    from bootproof.builder.xen.steps import GenerateOptions

    root = (directory if directory is not None else config.parent).absolute()
    if not root.is_dir():
        raise InputError("is not a directory", path=config, field=option,
                         value=str(directory))
    cfg = load_config(config)
    opts = GenerateOptions()
    check_config(cfg, opts)
    files = check_inputs(cfg, root, opts.calc)
    cfg, _ = with_partial_dtbs(cfg, root, files)
    base = None if dtb_made_later(cfg, root, opts) else load_host_dtb(
        cfg, root, merge_overlays=opts.merge_overlays, fdtoverlay=opts.fdtoverlay)
    placed = place(cfg, files, base, opts.calc)
    return with_digests(_model(placed.layout, config), root)


def with_digests(layout: Layout, root: Path) -> Layout:
    """``layout`` with the sha256 of each item's ``source`` file under ``root`` (each file
    read and hashed once, however many items name it: 64 domUs often share one kernel)."""
    import hashlib
    from dataclasses import replace

    digests: dict[str, str | None] = {}

    def digest(name: str) -> str | None:
        if name not in digests:
            try:
                with open(root / name, "rb") as fh:
                    digests[name] = hashlib.file_digest(fh, "sha256").hexdigest()
            except OSError:
                digests[name] = None
        return digests[name]

    spaces = tuple(replace(s, items=tuple(
        replace(i, sha256=digest(i.source)) if i.source and i.sha256 is None else i
        for i in s.items)) for s in layout.spaces)
    return replace(layout, spaces=spaces)


def load_disk(path: Path) -> Layout:
    """The partition table, FAT file lists and ext superblocks of a disk image (metadata
    only; see :func:`read_disk`), in the terms ``disk_image --json`` uses."""
    from bootproof.builder.disk.layout_model import disk_model

    return disk_model(read_disk(path))


class ImagePartition(NamedTuple):
    """One partition of a disk image read back (what
    :class:`~bootproof.builder.disk.image.PartitionLayout` holds, without importing the
    disk builder: that import alone costs more than the whole diff of two images)."""

    number: int
    role: str
    fs: str
    start_lba: int
    sectors: int
    label: str
    fs_id: str
    content_bytes: int
    files: tuple[tuple[str, int], ...] = ()
    device: str | None = None
    source: str | None = None

    @property
    def size(self) -> int:
        return self.sectors * 512


class ImageDisk(NamedTuple):
    """A disk image read back, as :class:`~bootproof.builder.disk.image.DiskLayout`."""

    image: str
    scheme: str
    size_bytes: int
    disk_id: str
    partitions: tuple[ImagePartition, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``disk_image --json`` shape (offsets and sizes in bytes too)."""
        return {"image": self.image, "scheme": self.scheme, "size_bytes": self.size_bytes,
                "disk_id": self.disk_id, "partitions": [
                    {"number": p.number, "role": p.role, "fs": p.fs,
                     "start_lba": p.start_lba, "sectors": p.sectors, "label": p.label,
                     "fs_id": p.fs_id, "device": p.device, "content_bytes": p.content_bytes,
                     "source": p.source, "offset": p.start_lba * 512, "size": p.size,
                     "files": [{"path": f, "size": n} for f, n in p.files]}
                    for p in self.partitions]}


def read_disk(path: Path) -> ImageDisk:
    """A disk image read back from its metadata: the label, each partition's filesystem
    (``vfat12/16/32`` with its files, ``ext4`` with its label, UUID and used bytes as
    ``content_bytes``, else ``unknown``); the role is ``boot`` for a FAT partition and
    ``rootfs`` otherwise (an image does not say which domain a rootfs is for)."""
    from bootproof.builder.formats.extfs import read_superblock
    from bootproof.builder.formats.fatdir import read_fat
    from bootproof.builder.formats.partread import SECTOR, read_table

    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size

        def read(offset: int, length: int) -> bytes:
            return os.pread(fd, length, offset)

        table = read_table(read, size, path=str(path))
        parts = []
        for p in table.partitions:
            base = p.start * SECTOR

            def at(offset: int, length: int, base: int = base) -> bytes:
                return read(base + offset, length)

            head = at(0, 512)
            ext = read_superblock(at)
            if ext is not None:
                parts.append(ImagePartition(p.number, "rootfs", "ext4", p.start, p.sectors,
                                           ext.label, ext.uuid, ext.used_bytes))
            elif head[510:512] == b"\x55\xaa" and head[0] in (0xEB, 0xE9):
                vol = read_fat(at, path=f"{path} partition {p.number}")
                parts.append(ImagePartition(
                    p.number, "boot", f"vfat{vol.bits}", p.start, p.sectors, vol.label,
                    vol.volume_id, sum(f.size for f in vol.files),
                    tuple((f.path, f.size) for f in vol.files)))
            else:
                parts.append(ImagePartition(p.number, "unknown", "unknown", p.start,
                                           p.sectors, p.name, p.guid or "", 0))
    return ImageDisk(str(path), table.scheme, size, table.disk_id, tuple(parts))
