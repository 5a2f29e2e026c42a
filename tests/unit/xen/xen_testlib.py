"""Helpers shared by the Xen script tests: inputs built at test time, independent checks.

Expectations are checked with the device-tree-compiler tools (``fdtput``, ``fdtget``,
``dtc``), never only with the project's own interpreter.
"""

from __future__ import annotations

import gzip
import shlex
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.plan import FileInfo
from bootproof.builder.xen.steps import GenerateOptions, GenerateResult

DATA = Path(__file__).parent / "data"

#: The config of the spec's worked example (Xen CI's dom0less smoke test, run 04).
RUN04_CONFIG = """\
MEMORY_START=0x40000000
MEMORY_END=0x50000000
DEVICE_TREE=virt.dtb
XEN=xen
DOM0_KERNEL=Image
DOM0_RAMDISK=dom0-rootfs.cpio.gz
XEN_CMD="console=dtuart dom0_mem=512M console_timestamps=boot"
NUM_DOMUS=1
DOMU_KERNEL[0]=Image
DOMU_RAMDISK[0]=initrd
DOMU_MEM[0]=256
LOAD_CMD=tftpb
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""
#: Its files' sizes in run 04 (no arm64 header sizing: image_size 0).
RUN04_SIZES = {
    "Image": FileInfo(0x583039),
    "dom0-rootfs.cpio.gz": FileInfo(0x301595),
    "initrd": FileInfo(0x100512),
    "xen": FileInfo(0x108A08),
    "virt.dtb": FileInfo(0xE32, 0, 0xE32),
}


@pytest.fixture(scope="session")
def host_dtb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QEMU virt's own DTB (aarch64, GICv3, virtualization on, 2 CPUs, 2 GiB)."""
    require_tool("qemu-system-aarch64")
    out = tmp_path_factory.mktemp("qemu") / "virt.dtb"
    subprocess.run(
        ["qemu-system-aarch64", "-machine",
         f"virt,virtualization=on,gic-version=3,dumpdtb={out}", "-cpu", "cortex-a57",
         "-smp", "2", "-m", "2G", "-nographic", "-nic", "none"],
        check=True, capture_output=True, timeout=60,
    )
    return out


def make_image(path: Path, size: int, image_size: int = 0) -> Path:
    """A fake arm64 Image: 64-byte header, magic ARM\\x64 at 56, image_size at 16."""
    head = bytearray(64)
    struct.pack_into("<Q", head, 16, image_size or size)
    head[56:60] = b"ARM\x64"
    path.write_bytes(bytes(head) + bytes(size - 64))
    return path


def _newc(name: str, data: bytes, mode: int) -> bytes:
    fields = [1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    blob = head + name.encode() + b"\0"
    blob += bytes(-len(blob) % 4) + data
    return blob + bytes(-len(blob) % 4)


def make_cpio_gz(path: Path, payload: bytes = b"#!/bin/sh\necho hi\n") -> Path:
    """A gzip-compressed newc cpio with one file ``init`` (written in Python)."""
    blob = _newc("init", payload, 0o100755) + _newc("TRAILER!!!", b"", 0)
    path.write_bytes(gzip.compress(blob + bytes(-len(blob) % 512)))
    return path


def dtc_compile(src: Path, out: Path, *extra: str) -> Path:
    require_tool("dtc")
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(out), *extra, str(src)],
                   check=True, capture_output=True)
    return out


def fdtget(dtb: Path, node: str, prop: str, kind: str = "x") -> list[str]:
    """``fdtget -t KIND``; returns the words printed."""
    require_tool("fdtget")
    r = subprocess.run(["fdtget", "-t", kind, str(dtb), node, prop], capture_output=True,
                       text=True, check=True)
    return r.stdout.split()


def fdtget_cells(dtb: Path, node: str, prop: str) -> list[int]:
    return [int(w, 16) for w in fdtget(dtb, node, prop, "x")]


def fdtget_strings(dtb: Path, node: str, prop: str) -> list[str]:
    """A string list, split on NULs (fdtget -t s joins with spaces)."""
    raw = fdtget(dtb, node, prop, "bx")
    data = bytes(int(b, 16) for b in raw)
    return [s.decode() for s in data.split(b"\0")[:-1]]


def fdt_children(dtb: Path, node: str) -> list[str]:
    require_tool("fdtget")
    r = subprocess.run(["fdtget", "-l", str(dtb), node], capture_output=True, text=True,
                       check=True)
    return r.stdout.split()


def apply_with_fdtput(dtb: Path, source: str) -> None:
    """Replay a script's ``fdt mknod``/``fdt set`` lines on ``dtb`` with fdtput.

    Tokenised with :mod:`shlex` (POSIX rules, like U-Boot's shell for these lines) and
    numbers parsed here, independently of the project's interpreter.
    """
    require_tool("fdtput")
    for line in source.splitlines():
        words = shlex.split(line)
        if words[:2] == ["fdt", "mknod"]:
            parent, name = words[2], words[3]
            subprocess.run(["fdtput", "-c", str(dtb), f"{parent.rstrip('/')}/{name}"],
                           check=True, capture_output=True)
        elif words[:2] == ["fdt", "set"]:
            node, prop, vals = words[2], words[3], words[4:]
            if vals and vals[0].startswith("<"):
                text = " ".join(vals).strip()[1:-1].split()
                nums = [int(t, 16) if t.lower().startswith("0x") else int(t, 10) for t in text]
                argv = ["fdtput", "-t", "x", str(dtb), node, prop, *(f"{n:x}" for n in nums)]
            elif vals:
                argv = ["fdtput", "-t", "s", str(dtb), node, prop, *vals]
            else:
                argv = ["fdtput", str(dtb), node, prop]
            subprocess.run(argv, check=True, capture_output=True)


def dts_text(dtb: Path) -> str:
    require_tool("dtc")
    r = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True,
                       text=True, check=True)
    return r.stdout


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


HEAD = """\
MEMORY_START=0x40000000
MEMORY_END=0x80000000
DEVICE_TREE=virt.dtb
XEN=xen
LOAD_CMD=tftpb
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""
DOM0 = "DOM0_KERNEL=Image\nDOM0_RAMDISK=rootfs.cpio.gz\n"
EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture
def work(tmp_path: Path, host_dtb: Path) -> Path:
    """A -d directory with Xen, kernels, ramdisks, the QEMU DTB, a partial DTB, an overlay."""
    shutil.copy(host_dtb, tmp_path / "virt.dtb")
    make_image(tmp_path / "xen", 983048)
    make_image(tmp_path / "Image", 0x583039, 0x700000)
    make_image(tmp_path / "Image-small", 0x20000)
    make_cpio_gz(tmp_path / "rootfs.cpio.gz")
    make_cpio_gz(tmp_path / "initrd.cpio.gz", b"domU\n" * 100)
    dtc_compile(DATA / "passthrough.dts", tmp_path / "eth0.dtb")
    dtc_compile(DATA / "overlay.dts", tmp_path / "ovl.dtbo", "-@")
    return tmp_path


Gen = Callable[..., GenerateResult]


@pytest.fixture
def gen(work: Path) -> Gen:
    def run(body: str, **kw: object) -> GenerateResult:
        (work / "config").write_text(HEAD + body)
        cfg = load_config(work / "config", env={})
        overrides = {k: kw.pop(k) for k in ("load_cmd", "output", "fit") if k in kw}
        cfg = with_overrides(cfg, **overrides)  # type: ignore[arg-type]
        return generate(cfg, work, GenerateOptions(env=EPOCH, **kw))  # type: ignore[arg-type]
    return run


def booted(work: Path, res: GenerateResult, dtb: str = "virt.dtb") -> Path:
    """The DTB as U-Boot leaves it: a copy with the script's fdt commands replayed."""
    out = work / "booted.dtb"
    shutil.copy(work / dtb, out)
    apply_with_fdtput(out, res.source)
    return out


def reg(m: object) -> list[int]:
    addr, size = m.addr, m.size  # type: ignore[attr-defined]
    return [addr >> 32, addr & 0xFFFFFFFF, size >> 32, size & 0xFFFFFFFF]


TWO_DOMUS = DOM0 + """\
XEN_CMD="console=dtuart dtuart=/pl011@9000000 dom0_mem=512M bootscrub=0"
DOM0_CMD="console=hvc0 rdinit=/init"
NUM_DOMUS=2
DOMU_KERNEL[0]=Image
DOMU_RAMDISK[0]=initrd.cpio.gz
DOMU_MEM[0]=256
DOMU_CMD[0]="console=ttyAMA0 marker=DOMU0"
DOMU_KERNEL[1]=Image-small
DOMU_VCPUS[1]=2
DOMU_VUART_PL011[1]=1
"""
