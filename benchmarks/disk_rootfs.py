"""Benchmark: a 200 MiB, 20,000-file rootfs ``.tar.gz`` through ``disk_image``, next to the floor.

Makes a rootfs tree of about 20,000 files and 200 MiB (files of 1 to 40 KiB, half random
and half zeros, so the archive compresses about 2:1, in 400 directories, plus symlinks),
packs it with GNU ``tar -czf``, then times:

* the floor: ``mke2fs -t ext4 -d TREE`` of the same tree, extracted, into a file of the
  size ``disk_image`` gives the partition (the one step no rootless ext4 build can skip);
* ``tar -xzf`` of the archive plus that ``mke2fs -d``: what any build from the archive
  does at least (decompress, create 20,000 files, make the filesystem), for scale;
* ``disk_image`` on a config whose dom0 rootfs is the ``.tar.gz`` (whole command: reading
  and checking the archive, staging, ``mke2fs -d``, the metadata, the boot partition and
  the disk assembly).

Prints the three (median of ``--runs``), the ratios (target: within 1.5x of the floor)
and, with ``--profile``, the time of each stage of one in-process rootfs build.

    python benchmarks/disk_rootfs.py [--runs N] [--keep DIR] [--profile] [-w DIR]

``-w DIR`` is passed to ``disk_image`` (where it stages the tree; e.g. a tmpfs) and used for
the ``tar -xzf`` directory too. On a disk shared with other work the staging writes
dominate, so compare the figures of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1 << 20
FILES = 20_000
TOTAL = 200 * MIB


def make_tree(root: Path) -> int:
    """Write the rootfs tree under ``root``; return its file bytes."""
    rng = random.Random(9)
    dirs = [root / f"usr/lib/pkg{i:03d}" for i in range(400)]
    for d in dirs:
        d.mkdir(parents=True)
    for top in ("bin", "etc", "dev", "tmp"):
        (root / top).mkdir()
    sizes = [rng.randint(1024, 40 * 1024) for _ in range(FILES)]
    scale = TOTAL / sum(sizes)
    written = 0
    for i, size in enumerate(sizes):
        size = int(size * scale)
        half = size // 2
        (dirs[i % len(dirs)] / f"lib{i:05d}.so").write_bytes(os.urandom(half)
                                                             + bytes(size - half))
        written += size
    for i in range(200):
        (root / f"bin/tool{i}").symlink_to(f"../usr/lib/pkg{i:03d}/lib{i:05d}.so")
    return written


def minimal_inputs(d: Path, rootfs: str) -> Path:
    (d / "Image").write_bytes(b"\1" * 4096)
    (d / "xen").write_bytes(b"\2" * 4096)
    (d / "virt.dtb").write_bytes(b"\xd0\x0d\xfe\xed" + bytes(60))
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + bytes(76))
    cfg = d / "config"
    cfg.write_text("MEMORY_START=0x40000000\nMEMORY_END=0x80000000\n"
                   'LOAD_CMD="load virtio 0:1"\nDEVICE_TREE=virt.dtb\nXEN=xen\n'
                   f"DOM0_KERNEL=Image\nDOM0_ROOTFS={rootfs}\nNUM_DOMUS=0\n"
                   "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    return cfg


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}: {proc.stderr}")
    return elapsed


def floor_argv(tree: Path, image: Path, size: int) -> list[str]:
    """``mke2fs -d`` as disk_image runs it (same options), on the extracted tree."""
    with open(image, "wb") as fh:
        fh.truncate(size)
    return ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "vos_2", "-E",
            "root_owner=0:0,nodiscard,lazy_itable_init=1,lazy_journal_init=1",
            "-d", str(tree), str(image)]


def profile_build(archive: Path, work: Path) -> str:
    """Time each stage of building the rootfs filesystem in-process."""
    import uuid

    from bootproof.builder.disk import fs
    from bootproof.builder.disk.archive import extract_archive
    from bootproof.builder.disk.plan import rootfs_partition_bytes

    stage = work / "profile-stage"  # under -w when given
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    lines = []
    start = time.perf_counter()
    tree = extract_archive(archive, stage)
    took = time.perf_counter() - start
    lines.append(f"  extract (sniff, decompress, check, stage): {took:6.3f} s")
    real_run = vars(fs)["run_tool"]

    def timed_run(argv: list[str], **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = real_run(argv, **kwargs)
        lines.append(f"  {argv[0]:42s}: {time.perf_counter() - t0:6.3f} s")
        return result

    setattr(fs, "run_tool", timed_run)  # noqa: B010 (the module's name, read at call time)
    try:
        start = time.perf_counter()
        fs.make_ext4(work / "profile.img", rootfs_partition_bytes(tree.content_bytes, 8),
                     tree, label="vos_2", fs_uuid=uuid.uuid4(), epoch=1)
        lines.append(f"  make_ext4 in all (settle, script):         "
                     f"{time.perf_counter() - start:6.3f} s")
    finally:
        setattr(fs, "run_tool", real_run)  # noqa: B010
        shutil.rmtree(stage, ignore_errors=True)
        (work / "profile.img").unlink(missing_ok=True)
    return "stages of one rootfs build:\n" + "\n".join(lines)


def extract_and_floor(archive: Path, work: Path, size: int) -> float:
    """``tar -xzf`` into a fresh directory under ``work``, then the floor's ``mke2fs -d``
    of it (removed again afterwards)."""
    out = work / "bench-tar-x"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    start = time.perf_counter()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(out)], check=True)
    subprocess.run(floor_argv(out, work / "bench-floor.img", size), check=True)
    took = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    (work / "bench-floor.img").unlink()
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("-w", dest="workdir", type=Path,
                        help="staging directory for disk_image and tar -xzf")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one in-process build")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-rootfs-"))
    work.mkdir(parents=True, exist_ok=True)
    tool = Path(sys.executable).parent / "disk_image"
    try:
        tree = work / "tree"
        if not tree.is_dir():
            tree.mkdir()
            make_tree(tree)
        inputs = work / "in"
        inputs.mkdir(exist_ok=True)
        archive = inputs / "rootfs.tar.gz"
        if not archive.is_file():
            subprocess.run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-czf",
                            str(archive), "-C", str(tree), "."], check=True)
        cfg = minimal_inputs(inputs, archive.name)
        image = work / "disk.img"
        layout_path = work / "disk.json"
        staging = ["-w", str(args.workdir)] if args.workdir else []
        builds = [timed([str(tool), "-c", str(cfg), "-d", str(inputs), "-o", str(image),
                         "-s", "8", "-q", "--json", str(layout_path), *staging])
                  for _ in range(args.runs)]
        layout = json.loads(layout_path.read_text())["detail"]
        part = layout["partitions"][1]
        floors = [timed(floor_argv(tree, work / "floor.img", part["size"]))
                  for _ in range(args.runs)]
        untars = [extract_and_floor(archive, args.workdir or work, part["size"])
                  for _ in range(args.runs)]
        build_t, floor_t = statistics.median(builds), statistics.median(floors)
        untar_t = statistics.median(untars)
        files = sum(1 for p in tree.rglob("*") if not p.is_dir())
        print(f"rootfs: {files} files and links, {part['content_bytes'] / MIB:.0f} MiB "
              f"extracted, {archive.stat().st_size / MIB:.0f} MiB as .tar.gz; "
              f"ext4 partition {part['size'] // MIB} MiB")
        print(f"mke2fs -d (floor):  {floor_t:7.3f} s (median of {args.runs})")
        print(f"tar -xzf + mke2fs -d: {untar_t:5.3f} s (median of {args.runs})")
        print(f"disk_image:         {build_t:7.3f} s (median of {args.runs})")
        print(f"ratio disk_image / mke2fs -d: {build_t / floor_t:5.2f}x (target: within 1.5x); "
              f"/ (tar -xzf + mke2fs -d): {build_t / untar_t:5.2f}x")
        if args.profile:
            print(profile_build(archive, args.workdir or work))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
