"""Filesystem images as plain files, built with standard tools, without root or mounts.

* FAT: ``mkfs.vfat`` on a file, then ``mmd``/``mcopy`` (mtools) to fill it.
* ext4: ``mke2fs -t ext4 -d STAGING`` on a file, then one ``debugfs -w`` script that makes
  the device nodes (``mknod``, and ``ln`` for hard links to them) and sets owner, mode,
  times and extended attributes (``sif``, ``ea_set``) of every inode from the archive's
  metadata: the staging copy is owned by whoever ran us, cannot hold device nodes or
  privileged attributes, and its ctime cannot be set from user space. debugfs works on
  the image file itself, so none of this needs root.

Reproducible: the volume id, filesystem UUID, hash seed and every timestamp come from the
caller (derived from ``SOURCE_DATE_EPOCH``); the tools run with ``TZ=UTC``,
``SOURCE_DATE_EPOCH`` and ``E2FSPROGS_FAKE_TIME`` set. Tool failures raise
:class:`~bootproof.builder.errors.ToolError` with the command and its output.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from bootproof.builder.disk.staged import StagedTree, linked_in_staging, staged_perm
from bootproof.builder.errors import InputError, ToolError
from bootproof.builder.formats.cpio import Kind
from bootproof.builder.tools import run_tool

FAT_EPOCH_FLOOR = 315532800  # 1980-01-01: FAT cannot store earlier times
FAT32_MIN_BYTES = 64 << 20  # below this FAT32 has fewer clusters than the spec's minimum


def tool_env(epoch: int) -> dict[str, str]:
    """Environment for the filesystem tools: fixed clock, UTC, C locale, no mtools checks."""
    env = dict(os.environ)
    env.update({
        "TZ": "UTC",
        "LC_ALL": "C",
        "SOURCE_DATE_EPOCH": str(epoch),
        "E2FSPROGS_FAKE_TIME": str(max(epoch, 1)),  # 0 would mean "use the real clock"
        "MTOOLS_SKIP_CHECK": "1",
    })
    return env


def _blank(image: Path, size_bytes: int) -> None:
    try:
        with open(image, "wb") as fh:
            fh.truncate(size_bytes)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "past the largest file size"
        raise InputError(f"cannot make a filesystem image this large ({reason})",
                         path=image, field="size", value=size_bytes) from exc


def _fat_width(image: Path) -> int:
    """12, 16 or 32, from the file-system type string of a FAT boot sector."""
    with open(image, "rb") as fh:
        boot = fh.read(90)
    if boot[82:87] == b"FAT32":
        return 32
    return 16 if boot[54:59] == b"FAT16" else 12


def make_fat(image: Path, size_bytes: int, files: Sequence[tuple[str, Path]], *,
             label: str, volume_id: int, epoch: int) -> int:
    """Create a FAT filesystem of ``size_bytes`` in the file ``image`` holding ``files``.

    ``files`` pairs a destination path inside the filesystem (``a/b/Image``) with the
    source file. Directories are created as needed. FAT32 as the reference uses from
    64 MiB; below that FAT32 would have fewer clusters than the spec's minimum, so
    ``mkfs.vfat`` picks the width. Returns the FAT width (12, 16 or 32).
    Raises :class:`ToolError` when a tool fails (e.g. the files do not fit).
    """
    width = ["-F", "32"] if size_bytes >= FAT32_MIN_BYTES else []
    env = tool_env(max(epoch, FAT_EPOCH_FLOOR))
    _blank(image, size_bytes)
    # --invariant fixes what SOURCE_DATE_EPOCH does not (the label entry's time); the -i
    # after it then sets our volume id
    run_tool(["mkfs.vfat", *width, "--invariant", "-i", f"{volume_id:08X}", "-n", label,
              str(image)], env=env, path=image)
    dirs: set[str] = set()
    for dest, _src in files:
        parts = dest.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    if dirs:
        run_tool(["mmd", "-i", str(image), *(f"::/{d}" for d in sorted(dirs))], env=env,
                 path=image)
    for dest, src in files:
        run_tool(["mcopy", "-i", str(image), "-o", str(src), f"::/{dest}"], env=env, path=src)
    return _fat_width(image)


_INLINE_VALUE = 512  # longer xattr values go through a file (debugfs reads 8 KiB lines)


def _dev_block(major: int, minor: int) -> int:
    """A device number as ext4 stores it in ``i_block[1]`` (the "new" encoding)."""
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def _debugfs_script(tree: StagedTree, epoch: int, values: Path) -> str:
    """The debugfs commands that finish the filesystem ``mke2fs -d`` made from ``tree``:
    device nodes (and hard links to them), then each inode's owner, mode, times and
    extended attributes. Long attribute values are written as files under ``values``."""
    lines: list[str] = []
    links: dict[str, list[str]] = {}
    cwd = ""
    for rel in sorted(tree.entries):
        meta = tree.entries[rel]
        if meta.link_to is not None:
            links.setdefault(meta.link_to, []).append(rel)
        elif meta.rdev is not None:  # a staging directory cannot hold device nodes
            parent, name = posixpath.split(rel)
            if parent != cwd:
                lines.append(f'cd "/{parent}"')
                cwd = parent
            major, minor = meta.rdev
            kind = "c" if meta.kind is Kind.CHAR else "b"
            small = major <= 0xFFFF and minor <= 0xFFFF  # what debugfs mknod accepts
            lines.append(f'mknod "{name}" {kind} {major if small else 0} {minor if small else 0}')
    lines.append('cd "/"')
    for owner, names in sorted(links.items()):
        if not linked_in_staging(tree.entries[owner].kind):
            lines += [f'ln "/{owner}" "/{rel}"' for rel in names]
    uid, gid = tree.staged_owner
    for rel in sorted(tree.entries):
        meta = tree.entries[rel]
        if meta.link_to is not None:
            continue  # the owner's lines set the shared inode
        target = f'"/{rel}"'
        made_here = meta.rdev is not None or not rel  # by debugfs, or mke2fs's root
        # mke2fs -d copied the staging copy's owner, mode, atime and mtime
        if made_here or meta.uid != uid:
            lines.append(f"sif {target} uid {meta.uid}")
        if made_here or meta.gid != gid:
            lines.append(f"sif {target} gid {meta.gid}")
        if made_here or meta.perm & 0o7000 or staged_perm(meta.kind, meta.perm) != meta.perm:
            lines.append(f"sif {target} mode 0{meta.kind.value | meta.perm:o}")
        stamp = meta.mtime if rel or tree.root_listed else epoch
        times = ("atime", "mtime", "ctime", "crtime") if made_here else ("ctime",)
        lines += [f"sif {target} {field} @{epoch if field == 'crtime' else stamp}"
                  for field in times]
        if meta.rdev is not None and max(meta.rdev) > 0xFFFF:
            lines.append(f"sif {target} block[1] {_dev_block(*meta.rdev)}")
        if rel in links and not linked_in_staging(meta.kind):  # debugfs ln does not count
            lines.append(f"sif {target} links_count {1 + len(links[rel])}")
        for name, value in meta.xattrs:
            if len(value) <= _INLINE_VALUE:
                escaped = "".join(f"\\x{b:02x}" for b in value)
                lines.append(f'ea_set {target} {name} "{escaped}"')
            else:
                values.mkdir(exist_ok=True)
                file = values / str(len(lines))  # any name unique in the script
                file.write_bytes(value)
                lines.append(f'ea_set -f "{file}" {target} {name}')
    for field in ("atime", "mtime", "ctime", "crtime"):
        lines.append(f"sif /lost+found {field} @{epoch}")
    return "\n".join(lines) + "\n"


def make_ext4(image: Path, size_bytes: int, tree: StagedTree, *, label: str,
              fs_uuid: uuid.UUID, epoch: int) -> None:
    """Create an ext4 filesystem of ``size_bytes`` in the file ``image`` from ``tree``.

    Owners, modes and times are those recorded in ``tree``, not the staging copy's.
    Raises :class:`ToolError` when ``mke2fs`` or ``debugfs`` fails (e.g. no space) and
    :class:`InputError` when the label is longer than ext4 allows.
    """
    if len(label.encode()) > 16:
        raise InputError("ext4 label longer than 16 bytes", field="label", value=label)
    env = tool_env(epoch)
    _blank(image, size_bytes)
    tree.settle()
    run_tool(["mke2fs", "-q", "-F", "-t", "ext4", "-L", label, "-U", str(fs_uuid),
              # the file is fresh and sparse, so it reads as zeros: no need to zero tables
              "-E", f"hash_seed={fs_uuid},root_owner=0:0,nodiscard,lazy_itable_init=1,"
                    "lazy_journal_init=1",
              "-d", str(tree.root), str(image)], env=env, path=tree.source or image)
    script = image.with_name(image.name + ".debugfs")
    values = image.with_name(image.name + ".xattrs")
    try:
        script.write_bytes(_debugfs_script(tree, epoch, values).encode("utf-8",
                                                                         "surrogateescape"))
        err = run_tool(["debugfs", "-w", "-f", str(script), str(image)], env=env,
                       path=image).stderr
    finally:
        script.unlink(missing_ok=True)
        shutil.rmtree(values, ignore_errors=True)
    # debugfs reports a failed command on stderr but still exits 0
    errors = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("debugfs ")]
    if errors:
        raise ToolError("debugfs could not set file metadata", argv=["debugfs", "-w"],
                        output="\n".join(errors), path=image)
