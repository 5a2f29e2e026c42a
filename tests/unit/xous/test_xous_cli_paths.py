"""create-image and bootproof xous build|inspect with the paths users type.

Each case runs the installed command from a working directory that is not where the
memory description lives, with the ELFs in the working directory (``dot``), in a sibling
directory (``sibling``) or named by absolute paths (:mod:`cli_paths`); the output and the
``--map`` go to a third directory. The same inputs must give the same bytes in every mode.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cli_paths import MODES, make_tree, run_cli
from xousargs_helpers import XOUS_FIXTURES, SynSection, write_elf32

BUILD_COMMANDS = (["create-image"], ["bootproof", "xous", "build"])


@pytest.mark.parametrize("command", BUILD_COMMANDS, ids=["create-image", "xous-build"])
@pytest.mark.parametrize("mode", MODES)
def test_build_and_inspect_from_another_directory(tmp_path: Path, mode: str,
                                                  command: list[str]) -> None:
    t = make_tree(tmp_path, mode)
    write_elf32(t.data / "kernel.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(range(64))),
        SynSection(".data", 0xFFD80000, 0x3, b"DATA" * 4),
    ], entry=0xFFD00000)
    write_elf32(t.data / "init.elf", [SynSection(".text", 0x10000, 0x6, b"\x13\0\0\0" * 8)],
                entry=0x10000)
    shutil.copy(XOUS_FIXTURES / "betrusted-emulation-csr-2020.csv", t.conf / "csr.csv")
    (t.conf / "extra.svd").write_text(
        "<device><vendorExtensions><memoryRegions><memoryRegion><name>RRC</name>"
        "<baseAddress>0x60000000</baseAddress><size>0x2000</size></memoryRegion>"
        "</memoryRegions></vendorExtensions></device>")
    out, mp = t.out / "args.bin", t.out / "args.json"
    r = run_cli([*command, t.arg(out), "-k", t.arg(t.data / "kernel.elf"),
                 "-i", t.arg(t.data / "init.elf"), "-c", t.arg(t.conf / "csr.csv"),
                 "--extra-svd", t.arg(t.conf / "extra.svd"), "--map", t.arg(mp), "-q"], t.cwd)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    doc = json.loads(mp.read_text())["detail"]
    assert doc["file_size"] == out.stat().st_size
    assert {"name": "rrc ", "start": 0x60000000, "size": 0x2000}.items() <= next(
        r for r in doc["regions"] if r["name"] == "rrc ").items()
    insp = run_cli(["bootproof", "xous", "inspect", t.arg(out), "--json"], t.cwd)
    assert insp.returncode == 0, insp.stderr
    assert json.loads(insp.stdout)["names"] == {"1": "kernel", "2": "init"}
    # the bytes do not depend on how the paths were spelled: compare with an absolute run
    ref = tmp_path / "ref.bin"
    r2 = run_cli(["create-image", str(ref), "-k", str(t.data / "kernel.elf"),
                  "-i", str(t.data / "init.elf"), "-c", str(t.conf / "csr.csv"),
                  "--extra-svd", str(t.conf / "extra.svd"), "-q"], tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(ref.read_bytes()).digest()


@pytest.mark.parametrize("mode", MODES)
def test_swap_sign_inspect_from_another_directory(tmp_path: Path, mode: str) -> None:
    t = make_tree(tmp_path, mode)
    write_elf32(t.data / "kernel.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(64)),
        SynSection(".data", 0xFFD80000, 0x3, b"DATA" * 4),
    ], entry=0xFFD00000)
    for name, base in (("init.elf", 0x10000), ("paged.elf", 0x20000)):
        write_elf32(t.data / name, [SynSection(".text", base, 0x6, b"\x13\0\0\0" * 8)],
                    entry=base)
    shutil.copy(XOUS_FIXTURES / "betrusted-emulation-csr-2020.csv", t.conf / "csr.csv")
    out = t.out
    r = run_cli(["create-image", t.arg(out / "args.bin"), "-k", t.arg(t.data / "kernel.elf"),
                 "-i", t.arg(t.data / "init.elf"), "--inis", t.arg(t.data / "paged.elf"),
                 "-c", t.arg(t.conf / "csr.csv"), "--swap", "0x41000000:1M",
                 "--swap-name", t.arg(out / "swap.img"), "--swap-debug-name",
                 t.arg(out / "swap-debug.img"), "--git-rev", "0" * 40, "--git-describe",
                 "v0.9.8", "--antirollback-override", "1", "-q"], t.cwd)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["args.bin", "swap-debug.img", "swap.img",
                                                     "swap.uf2"]
    r = run_cli(["bootproof", "xous", "sign", "--kernel-image", t.arg(out / "args.bin"),
                 "--kernel-output", t.arg(out / "xous.img"), "--git-describe", "v0.9.8"],
                t.cwd)
    assert r.returncode == 0, r.stderr
    for target, extra in (("xous.img", []), ("swap.img", ["--args", t.arg(out / "args.bin")]),
                          ("swap.uf2", [])):
        insp = run_cli(["bootproof", "xous", "inspect", t.arg(out / target), *extra, "--json"],
                       t.cwd)
        assert insp.returncode == 0, insp.stderr
    assert json.loads(insp.stdout)["inner"]["verification"]["developer"] is True
    tags = run_cli(["bootproof", "xous", "read-tags", t.arg(out / "args.bin")], t.cwd)
    assert tags.returncode == 0 and "70617753 (Swap) (48 bytes" in tags.stdout
