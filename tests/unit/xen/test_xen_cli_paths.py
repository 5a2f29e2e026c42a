"""uboot-script-gen and bootproof xen script|guests with the paths users type.

Each case runs the installed command from a working directory that is not the config's
directory, with ``-d .``, ``-d ../x`` or absolute paths (:mod:`cli_paths`), on the paths
that hand files to other programs: overlays applied at boot together with FDTEDIT (the
offline copy merges them with fdtoverlay), ``--merge-overlays`` and FIT (mkimage, signed
with a key named relative to ``-d``). Outputs are read back with dtc's tools.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_paths import MODES, Tree, make_tree, run_cli
from conftest import require_tool
from xen_testlib import (
    DATA,
    DOM0,
    HEAD,
    dtc_compile,
    fdt_children,
    fdtget_strings,
    host_dtb,
    make_cpio_gz,
    make_image,
)

__all__ = ["host_dtb"]

OVERLAY = "NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\n"
SCRIPT_COMMANDS = (["uboot-script-gen"], ["bootproof", "xen", "script"])


def _tree(tmp_path: Path, mode: str, host_dtb: Path, body: str) -> Tree:
    """The -d directory ``x/`` with the files and ``conf/config`` naming them."""
    require_tool("fdtoverlay", "fdtget", "dtc")
    t = make_tree(tmp_path, mode)
    shutil.copy(host_dtb, t.data / "virt.dtb")
    make_image(t.data / "xen", 983048)
    make_image(t.data / "Image", 0x20000)
    make_cpio_gz(t.data / "rootfs.cpio.gz")
    dtc_compile(DATA / "overlay.dts", t.data / "ovl.dtbo", "-@")
    (t.conf / "config").write_text(HEAD + DOM0 + body)
    return t


def _ok(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def _no_host_paths(t: Tree, *files: Path) -> None:
    """The generated files name inputs as the config does, never by a path of this machine."""
    for f in files:
        text = f.read_bytes()
        assert str(t.root).encode() not in text, f"{f.name} holds a host path"


@pytest.mark.parametrize("command", SCRIPT_COMMANDS, ids=["uboot-script-gen", "xen-script"])
@pytest.mark.parametrize("mode", MODES)
def test_overlay_at_boot_with_fdtedit(tmp_path: Path, host_dtb: Path, mode: str,
                                      command: list[str]) -> None:
    t = _tree(tmp_path, mode, host_dtb, OVERLAY + "FDTEDIT=virt-edited.dtb\n")
    r = run_cli([*command, "-c", t.arg(t.conf / "config"), "-d", t.d, "-t", "tftp",
                 "-o", "boot", "--map", t.arg(t.out / "boot.map.json")], t.cwd)
    _ok(r)
    source = (t.data / "boot.source").read_text()
    assert "tftpb 0x" in source and " ovl.dtbo\n" in source and "fdt apply" in source
    assert (t.data / "boot.scr").is_file()
    # FDTEDIT: the DTB the board ends up with, overlay merged and /chosen edited
    edited = t.data / "virt-edited.dtb"
    assert fdtget_strings(edited, "/bootproof-test", "compatible") == ["bootproof,overlay-test"]
    assert any(n.startswith("dom0@") for n in fdt_children(edited, "/chosen"))
    doc = json.loads((t.out / "boot.map.json").read_text())["detail"]
    assert {m["file"] for m in doc["modules"]} >= {"ovl.dtbo", "virt.dtb", "Image"}
    _no_host_paths(t, t.data / "boot.source", t.data / "boot.scr", t.out / "boot.map.json")


@pytest.mark.parametrize("mode", MODES)
def test_merge_overlays(tmp_path: Path, host_dtb: Path, mode: str) -> None:
    t = _tree(tmp_path, mode, host_dtb, OVERLAY)
    r = run_cli(["uboot-script-gen", "-c", t.arg(t.conf / "config"), "-d", t.d, "-t", "tftp",
                 "-o", "boot", "--merge-overlays"], t.cwd)
    _ok(r)
    merged = t.data / "virt-overlays.dtb"
    assert fdtget_strings(merged, "/bootproof-test", "compatible") == ["bootproof,overlay-test"]
    assert " virt-overlays.dtb\n" in (t.data / "boot.source").read_text()
    _no_host_paths(t, t.data / "boot.source")


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RSA-2048 key and certificate (``dev.key``, ``dev.crt``) for signed FITs."""
    require_tool("openssl")
    keys = tmp_path_factory.mktemp("keys")
    subprocess.run(["openssl", "genrsa", "-out", str(keys / "dev.key"), "2048"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-batch", "-new", "-x509", "-key", str(keys / "dev.key"),
                    "-out", str(keys / "dev.crt"), "-subj", "/CN=bootproof-test"],
                   check=True, capture_output=True)
    return keys


@pytest.mark.parametrize("mode", MODES)
def test_fit_signed_with_overlay(tmp_path: Path, host_dtb: Path, signing_key: Path,
                                 mode: str) -> None:
    require_tool("mkimage")
    t = _tree(tmp_path, mode, host_dtb, OVERLAY)
    shutil.copytree(signing_key, t.data / "keys")
    shutil.copy(host_dtb, t.data / "u-boot.dtb")
    r = run_cli(["uboot-script-gen", "-c", t.arg(t.conf / "config"), "-d", t.d, "-t", "tftp",
                 "-o", "boot", "-f", "-k", "keys/dev", "-u", "u-boot.dtb",
                 "--map", t.arg(t.out / "map.json")], t.cwd)
    _ok(r)
    fit = t.data / "boot.fit"
    assert set(fdt_children(fit, "/images")) >= {"host_kernel", "host_fdt", "boot_scr"}
    assert fdtget_strings(fit, "/images/host_kernel/signature-1", "key-name-hint") == ["dev"]
    baked = t.data / "virt-fit.dtb"  # FDTEDIT's FIT default: overlay merged, edits baked
    assert fdtget_strings(baked, "/bootproof-test", "compatible") == ["bootproof,overlay-test"]
    assert fdtget_strings(t.data / "u-boot.dtb", "/signature/key-dev", "algo") == [
        "sha1,rsa2048"]
    its = (t.data / "boot.its").read_text()
    assert '/incbin/("Image")' in its and '/incbin/("virt-fit.dtb")' in its
    _no_host_paths(t, t.data / "boot.its", t.data / "boot.source")


@pytest.mark.parametrize("mode", MODES)
def test_guests_directory(tmp_path: Path, mode: str) -> None:
    require_tool("qemu-system-aarch64")
    t = make_tree(tmp_path, mode)
    target = t.data / "guests"
    r = run_cli(["bootproof", "xen", "guests", "-d", t.arg(target)], t.cwd)
    _ok(r)
    for name in ("xen", "Image", "Image.gz", "initrd", "virt.dtb"):
        assert (target / name).is_file(), name
    assert fdtget_strings(target / "virt.dtb", "/pl061@9030000", "status") == ["disabled"]
