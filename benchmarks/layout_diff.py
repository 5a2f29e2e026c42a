"""Benchmark: ``bootproof diff`` as whole processes (interpreter start, imports, reading
both sides, comparing, printing).

Not a test: it prints figures next to the floor measured in the same run.

* two 64-domU Xen layouts (layout JSON, as ``xen script --map`` writes it; made by planning
  the ``xen_script.py`` inputs, the new one with every domU kernel 2 MiB bigger);
* the same two planned from their ImageBuilder configs (nothing written), for comparison;
* two 1 GiB disk images (sparse files built by ``disk_image``; the new one's rootfs
  partition 8 MiB bigger): only their partition tables, FAT directories and ext
  superblocks are read; the script also counts the bytes the diff reads (``/proc``'s
  ``rchar``) to show that it is metadata only.
* The floor: ``python -c pass``, and ``bootproof --help`` (the umbrella's own start-up).

Target: under 0.2 s for the diff of the two layouts and for the diff of the two disk
images: best wall time, and (since the machine may be shared: the load average is printed
before and after) best CPU time (user + system) too.

    python benchmarks/layout_diff.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xen_script  # the input generators of the sibling benchmarks
from startup import BIN, best_of, child_env, compile_project

from bootproof.builder.diff.inputs import load_xen
from bootproof.builder.disk.image import build_disk
from bootproof.builder.xen.config import load_config

TARGET_SECONDS = 0.2
MIB = 1 << 20
DOMUS = 64


def xen_layouts(root: Path) -> tuple[Path, Path, Path, Path]:
    """Two configs (the new one's domU kernel 2 MiB bigger) and their layout JSONs."""
    xen_script.make_inputs(root)
    image = bytearray((root / "Image").read_bytes())
    size = int.from_bytes(image[16:24], "little")  # the arm64 header's image_size
    image[16:24] = (size + 2 * MIB).to_bytes(8, "little")
    (root / "Image.big").write_bytes(bytes(image) + bytes(2 * MIB))
    old_cfg, new_cfg = root / "old.config", root / "new.config"
    text = xen_script.config_text(DOMUS)
    old_cfg.write_text(text)
    new_cfg.write_text("\n".join(
        line.replace("=Image", "=Image.big") if line.startswith("DOMU_KERNEL") else line
        for line in text.splitlines()) + "\n")
    old_json, new_json = root / "old.json", root / "new.json"
    for cfg, out in ((old_cfg, old_json), (new_cfg, new_json)):
        out.write_text(json.dumps(load_xen(cfg, root).to_json()))
    return old_cfg, new_cfg, old_json, new_json


def disks(root: Path) -> tuple[Path, Path]:
    """Two ~1 GiB sparse disk images (boot FAT + one ext4 rootfs), the new rootfs bigger."""
    d = root / "in"
    d.mkdir()
    (d / "Image").write_bytes(bytes(range(256)) * (4 * 1024))
    (d / "xen").write_bytes(bytes(range(256)) * 1024)
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(d / "virt.dtb")],
                   input=xen_script.DTS.encode(), check=True, capture_output=True)
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + bytes(76))
    subprocess.run(["tar", "czf", str(d / "dom0.tar.gz"), "-C", str(d), "boot.source"],
                   check=True)
    cfg = d / "config"
    cfg.write_text(
        "MEMORY_START=0x40000000\nMEMORY_END=0xC0000000\nLOAD_CMD=\"load virtio 0:1\"\n"
        "DEVICE_TREE=virt.dtb\nXEN=xen\nDOM0_KERNEL=Image\nDOM0_ROOTFS=dom0.tar.gz\n"
        "NUM_DOMUS=0\nUBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    old, new = root / "old.img", root / "new.img"
    for slack, out in ((1000, old), (1008, new)):
        build_disk(load_config(cfg), d, out, slack_mib=slack)
    return old, new


def bytes_read(argv: list[str]) -> int:
    """``rchar`` of the process: every byte it read (files, pipes), interpreter included."""
    wrapper = ("import runpy, sys\nsys.argv = sys.argv[1:]\n"
               "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
               "except SystemExit:\n    pass\n"
               "for line in open('/proc/self/io'):\n"
               "    if line.startswith('rchar'):\n"
               "        sys.stderr.write(line.split()[1])\n")
    proc = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True,
                          text=True, env=child_env(), check=False)
    return int(proc.stderr.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    compile_project()
    bootproof = str(BIN / "bootproof")
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="bootproof-diff-") as tmp:
        root = Path(tmp)
        xen_dir = root / "xen"
        xen_dir.mkdir()
        old_cfg, new_cfg, old_json, new_json = xen_layouts(xen_dir)
        old_img, new_img = disks(root)
        size = old_img.stat().st_size
        used = old_img.stat().st_blocks * 512

        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        floor = best_of(args.runs, [sys.executable, "-c", "pass"])
        print(f"python -c pass (floor):               {floor}")
        helptime = best_of(args.runs, [bootproof, "--help"])
        print(f"bootproof --help:                     {helptime}")
        lay = best_of(args.runs, [bootproof, "diff", str(old_json), str(new_json)])
        print(f"diff, two {DOMUS}-domU layout JSONs:      {lay} "
              f"= floor + {(lay.best - floor.best) * 1000:.1f} ms")
        verdicts.append((f"diff of two {DOMUS}-domU layouts < 0.2 s (wall)",
                         lay.best < TARGET_SECONDS))
        verdicts.append((f"diff of two {DOMUS}-domU layouts < 0.2 s (CPU)",
                         lay.cpu < TARGET_SECONDS))
        md = best_of(args.runs, [bootproof, "diff", str(old_json), str(new_json),
                                 "--format", "markdown"])
        print(f"  the same, --format markdown:        {md}")
        cfgs = best_of(args.runs, [bootproof, "diff", str(old_cfg), str(new_cfg)],
                       cwd=xen_dir)
        print(f"  the same planned from the configs:  {cfgs}")
        disk = best_of(args.runs, [bootproof, "diff", str(old_img), str(new_img)])
        print(f"diff, two {size / MIB:.0f} MiB disk images:     {disk} "
              f"= floor + {(disk.best - floor.best) * 1000:.1f} ms "
              f"({used / MIB:.1f} MiB allocated each)")
        verdicts.append(("diff of two 1 GiB disk images < 0.2 s (wall)",
                         disk.best < TARGET_SECONDS))
        verdicts.append(("diff of two 1 GiB disk images < 0.2 s (CPU)",
                         disk.cpu < TARGET_SECONDS))
        script = str(BIN / "bootproof")
        disk_read = bytes_read([script, "diff", str(old_img), str(new_img)])
        help_read = bytes_read([script, "--help"])
        print(f"bytes read by the disk diff: {disk_read / 1024:.0f} KiB, by bootproof --help "
              f"{help_read / 1024:.0f} KiB: the images cost "
              f"{(disk_read - help_read) / 1024:.0f} KiB of reads")
        verdicts.append(("disk diff reads under 1 MiB more than --help",
                         disk_read - help_read < MIB))
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for name, ok in verdicts:
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
