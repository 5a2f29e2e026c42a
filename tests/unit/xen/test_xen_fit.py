"""FIT mode (-f): the .its from Python, the .fit from mkimage, optionally signed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import (
    DOM0,
    EPOCH,
    HEAD,
    TWO_DOMUS,
    Gen,
    dtc_compile,
    fdt_children,
    fdtget,
    fdtget_cells,
    fdtget_strings,
    gen,
    host_dtb,
    make_cpio_gz,
    make_image,
    work,
)

from bootproof.builder.errors import InputError, LayoutError
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.steps import GenerateOptions

__all__ = ["gen", "host_dtb", "work"]


def fit_bytes(fit: Path, node: str) -> bytes:
    return bytes(int(b, 16) for b in fdtget(fit, node, "data", "bx"))


def test_fit_images_and_baked_dtb(work: Path, gen: Gen) -> None:
    require_tool("mkimage")
    res = gen(TWO_DOMUS, output="boot", fit=True)
    lay = res.layout
    fit = work / "boot.fit"
    assert (work / "boot.its").exists()
    images = fdt_children(fit, "/images")
    assert set(images) == {"dom0_linux", "dom0_ramdisk", "domU0_kernel", "domU0_ramdisk",
                           "domU1_kernel", "host_kernel", "host_fdt", "boot_scr"}
    for m in lay.modules:
        assert fdtget_cells(fit, f"/images/{m.fit_name}", "load") == [m.addr]
        assert fit_bytes(fit, f"/images/{m.fit_name}") == (work / m.file).read_bytes()
    assert fdtget_cells(fit, "/images/host_kernel", "entry") == [lay.find("xen").addr]  # type: ignore[union-attr]
    assert fdtget_cells(fit, "/images/boot_scr", "load") == [lay.script_addr]
    assert fit_bytes(fit, "/images/boot_scr") == (work / "boot.source").read_bytes()
    assert fdtget_strings(fit, "/configurations/config", "kernel") == ["host_kernel"]
    assert fdtget_strings(fit, "/configurations/config", "fdt") == ["host_fdt"]
    assert set(fdtget_strings(fit, "/configurations/config", "loadables")) == {
        "dom0_linux", "dom0_ramdisk", "domU0_kernel", "domU0_ramdisk", "domU1_kernel"}
    # The edits are baked into the FIT's DTB (FDTEDIT defaults to <dtb>-fit.dtb) ...
    host_fdt = lay.find("dtb")
    assert host_fdt is not None and host_fdt.file == "virt-fit.dtb"
    baked = work / "virt-fit.dtb"
    assert fdtget_strings(baked, "/chosen/domU0", "compatible") == ["xen,domain"]
    k0 = lay.find("domU-kernel", 0)
    assert fdtget_cells(baked, k0.dt_node, "reg") == [0, k0.addr, 0, k0.size]  # type: ignore[arg-type, union-attr]
    # ... so the script only extracts, addresses the DTB and boots.
    lines = res.source.splitlines()
    assert lines[0] == "fit_addr=$fileaddr"
    assert not any(ln.startswith(("fdt set", "fdt mknod", "tftpb")) for ln in lines)
    assert f"imxtract $fit_addr host_fdt 0x{host_fdt.addr:X}" in lines
    assert lay.fit_addr is not None and lay.fit_addr >= host_fdt.end
    assert res.hints[1] == f"tftpb 0x{lay.fit_addr:x} boot.fit; source 0x{lay.fit_addr:x}:boot_scr"
    assert not (work / "boot.scr").exists()


def test_fit_layout_error_writes_nothing(work: Path, gen: Gen) -> None:
    # Above 4 GiB: outside QEMU's /memory, and past the FIT's 32-bit cells.
    with pytest.raises(LayoutError, match=r"32-bit|outside"):
        gen(DOM0 + "MEMORY_START=0x100000000\nMEMORY_END=0x140000000\n", output="boot",
            fit=True)
    assert not (work / "boot.fit").exists() and not (work / "boot.its").exists()


def test_signed_fit(work: Path, gen: Gen) -> None:
    require_tool("mkimage", "openssl")
    keys = work / "keys"
    keys.mkdir()
    subprocess.run(["openssl", "genrsa", "-out", str(keys / "dev.key"), "2048"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-batch", "-new", "-x509", "-key", str(keys / "dev.key"),
                    "-out", str(keys / "dev.crt"), "-subj", "/CN=bootproof-test"],
                   check=True, capture_output=True)
    shutil.copy(work / "virt.dtb", work / "u-boot.dtb")
    (work / "config").write_text("")
    res = gen(DOM0 + "FIT_ENC_KEY_DIR=keys/dev\nFIT_ENC_UB_DTB=u-boot.dtb\n", output="boot",
              fit=True)
    fit = work / "boot.fit"
    for m in res.layout.modules:
        sig = f"/images/{m.fit_name}/signature-1"
        assert fdtget_strings(fit, sig, "algo") == ["sha1,rsa2048"]
        assert fdtget_strings(fit, sig, "key-name-hint") == ["dev"]
        assert len(fdtget(fit, sig, "value", "bx")) == 256  # an RSA-2048 signature
    ub = work / "u-boot.dtb"
    assert fdtget_strings(ub, "/signature/key-dev", "required") == ["image"]
    assert fdtget_strings(ub, "/signature/key-dev", "algo") == ["sha1,rsa2048"]


@pytest.fixture
def plain_board(tmp_path: Path) -> Path:
    """A -d directory with a small board DTB compiled by dtc (no QEMU needed)."""
    (tmp_path / "board.dts").write_text(
        '/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>; compatible = "t,board";\n'
        '  memory@40000000 { device_type = "memory"; reg = <0 0x40000000 0 0x40000000>; };\n'
        "  chosen { }; };\n")
    dtc_compile(tmp_path / "board.dts", tmp_path / "virt.dtb")
    make_image(tmp_path / "xen", 0x20000)
    make_image(tmp_path / "Image", 0x40000)
    make_cpio_gz(tmp_path / "rootfs.cpio.gz")
    return tmp_path


def test_signing_without_the_key_is_an_error_and_writes_nothing(plain_board: Path) -> None:
    # mkimage 2023.01 prints "Failed to sign" and exits 0: the FIT would go out unsigned
    (plain_board / "keys").mkdir()
    (plain_board / "config").write_text(HEAD + DOM0)
    before = sorted(p.name for p in plain_board.iterdir())
    cfg = with_overrides(load_config(plain_board / "config", env={}), output="boot", fit=True,
                         key="keys/dev")
    with pytest.raises(InputError) as err:
        generate(cfg, plain_board, GenerateOptions(env=EPOCH))
    assert err.value.field == "-k" and "keys/dev.key" in str(err.value)
    assert sorted(p.name for p in plain_board.iterdir()) == before
