"""create-image with swap: --swap, --inis, --swap-name, --swap-debug-name, --swap-key,
--git-rev/--git-describe, the reference's rules (spec addendum §1.1-1.5) and what is ours
(--inis without usable swap is an error unless --ignore-unusable-swap)."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from crc_model import crc16_x25_model
from elftools.elf.elffile import ELFFile
from xousargs_helpers import digest, xous_elfs

from bootproof.builder import ed25519
from bootproof.builder.formats import uf2
from bootproof.builder.xous import signed, swap_args, swap_image
from bootproof.builder.xous.cli import create_image_main
from bootproof.builder.xous.inspect import inspect_file
from bootproof.builder.xous.keys import DEVELOPER_KEY
from bootproof.builder.xous.layout import XousLayout

__all__ = ["xous_elfs"]  # the session fixture, re-exported for pytest

REPO = Path(__file__).resolve().parents[3]
CSV = str(REPO / "qemu_configs" / "riscv32-virt" / "csr.csv")  # RAM SrIn 0x80000000, 16 MiB
REV = "0123456789abcdef0123456789abcdef01234567"
DESCRIBE = "v0.10.0-19-g0d934e1"
SEAL = ["--git-rev", REV, "--git-describe", DESCRIBE, "--antirollback-override", "1"]


def _build(tmp: Path, elfs: dict[str, Path], *extra: str) -> int:
    return create_image_main([str(tmp / "args.bin"), "-k", str(elfs["kernel"]),
                              "-i", str(elfs["init"]), "-c", CSV, "-q", *extra])


def _section_bytes(elf: Path) -> dict[int, bytes]:
    """The bytes of an ELF's allocated PROGBITS sections by address (pyelftools)."""
    with elf.open("rb") as f:
        ef = ELFFile(f)
        return {s["sh_addr"]: s.data() for s in ef.iter_sections()
                if s["sh_flags"] & 2 and s["sh_type"] == "SHT_PROGBITS" and s["sh_addr"]}


def test_swap_build_writes_every_file_as_the_spec_lays_it_out(
        xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path
    rc = _build(out, xous_elfs, "--inis", str(xous_elfs["shell"]), "--inis",
                str(xous_elfs["xippage"]), "--swap", "0x80c00000:4M", "--swap-name",
                str(out / "swap.img"), "--swap-debug-name", str(out / "swap-debug.img"),
                "--map", str(out / "args.json"), *SEAL)
    assert rc == 0
    args = (out / "args.bin").read_bytes()
    # §1.4: XArg, Swap (before MREx), MREx, IniE, XKrn, PNam; no IniS in args.bin
    layout = inspect_file(out / "args.bin")
    assert [t.tag for t in layout.tags] == ["XArg", "Swap", "MREx", "IniE", "XKrn", "PNam"]
    swap_tag = layout.tags[1]
    body = args[swap_tag.offset + 8:swap_tag.offset + 56]
    assert body == (struct.pack("<2I", 0x80C00000, 0x400000) + b"Swap" + bytes(32)
                    + struct.pack("<I", 0x21200000))
    assert swap_tag.crc16 == crc16_x25_model(body)
    # §1.3 (default rule = precursor where they overlap): RAM ends where swap starts
    assert (layout.ram.start, layout.ram.size) == (0x80000000, 0xC00000)
    # §1.5: PIDs kernel, --init, then --inis; every name in args.bin's PNam
    assert layout.names == {1: "kernel", 2: "init", 3: "shell", 4: "xippage"}
    assert layout.swap is not None and layout.swap.programs == ()  # not in args.bin

    # swap.img: decrypts with the zero key into the swap args of §1.7
    img = (out / "swap.img").read_bytes()
    parsed = swap_image.parse_swap_image(img)
    assert parsed.kind == "encrypted" and parsed.header.partial_nonce == 0x89ABCDEF01234567
    assert parsed.signature is not None
    verified = signed.verify_signed(img, parsed.signature)
    assert verified.public == DEVELOPER_KEY.public
    block = swap_image.decrypt_swap_image(img, parsed)
    decoded = swap_args.decode_swap_args(block, first_pid=3)
    assert (decoded.ram_start, decoded.ram_size, decoded.ram_name) == (0x80C00000, 0x400000,
                                                                       "Swap")
    assert [t.tag for t in decoded.tags] == ["XArg", "IniS", "IniS"]
    assert decoded.warnings == ()
    first, second = decoded.programs
    assert first.load_offset == 0x1000 and second.load_offset % 4096 == 0
    for prog, elf in ((first, xous_elfs["shell"]), (second, xous_elfs["xippage"])):
        want = _section_bytes(elf)
        copied = [s for s in prog.sections if s.file_offset is not None]
        assert sorted(s.vaddr for s in copied) == sorted(want)
        for s in copied:  # each section's bytes where its IniS record says (padding after)
            assert s.file_offset is not None
            data = want[s.vaddr]
            assert block[s.file_offset:s.file_offset + len(data)] == data
        assert len(block) >= prog.load_offset + prog.payload_size
    # the debug image: the same header page, no signature, then the plaintext
    dbg = (out / "swap-debug.img").read_bytes()
    assert dbg[:0xD00] == img[:0xD00] and dbg[0xD00:0x1000] == bytes(0x300)
    assert dbg[0x1000:] == block
    # the UF2: the whole swap.img at 0x70000000
    u = uf2.decode((out / "swap.uf2").read_bytes())
    assert u.base == 0x70000000 and u.data[:len(img)] == img
    # the map: the swap space with the IniS programs, as the swap args hold them
    lay = XousLayout.from_json(json.loads((out / "args.json").read_text()))
    assert lay.swap is not None and lay.swap.args_size == len(block)
    assert [(p.pid, p.name) for p in lay.swap.programs] == [(3, "shell"), (4, "xippage")]
    assert [p.sections for p in lay.swap.programs] == [p.sections for p in decoded.programs]


def test_the_spec_model_vector_through_create_image(xous_elfs: dict[str, Path],
                                                    tmp_path: Path) -> None:
    # Spec addendum §2.9 "model, full image" (a Python model, not the Rust tool):
    # --swap 0:0x800000, no --inis, dev key, anti-rollback 1.
    rc = _build(tmp_path, xous_elfs, "--swap", "0:0x800000", "--platform", "bao1x",
                "--swap-name", str(tmp_path / "swap.img"), "--swap-debug-name",
                str(tmp_path / "swap-debug.img"), *SEAL)
    assert rc == 0
    assert hashlib.sha256((tmp_path / "swap.img").read_bytes()).hexdigest() == (
        "a74d5ad378e6b9ea1f682b0c5f53b99e48ffe9ab45cbb76b27a65c4227f8a1b1")
    assert hashlib.sha256((tmp_path / "swap-debug.img").read_bytes()).hexdigest() == (
        "311e42549bd89fcc020a6622ef3977744989e5a1bd36e3e71feae22dd9117d6d")
    # bao1x: RAM left alone (swap is the SPI RAM, offset 0)
    assert inspect_file(tmp_path / "args.bin").ram.size == 16 << 20


def test_same_inputs_same_bytes(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        assert _build(d, xous_elfs, "--inis", str(xous_elfs["shell"]), "--swap",
                      "0x81000000:1M", "--swap-name", str(d / "swap.img"), *SEAL) == 0
        outs.append([(d / f).read_bytes() for f in ("args.bin", "swap.img", "swap.uf2")])
    assert outs[0] == outs[1]


def _bad(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_inis_without_usable_swap_is_an_error_unless_asked(
        xous_elfs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inis = ["--inis", str(xous_elfs["shell"])]
    line = _bad(capsys, _build(tmp_path, xous_elfs, *inis))
    assert "--inis" in line and "shell.elf" in line and "--ignore-unusable-swap" in line
    assert not list(tmp_path.iterdir())
    # --ram only: swap cannot be active (no MREx), as in the reference
    ram = ["-r", "0x80000000:16M"]
    argv = [str(tmp_path / "args.bin"), "-k", str(xous_elfs["kernel"]), "-i",
            str(xous_elfs["init"]), *ram, "-q", "--swap", "0x81000000:1M",
            "--swap-name", str(tmp_path / "swap.img"), *SEAL]
    line = _bad(capsys, create_image_main(argv))
    assert "--swap" in line and "--ram only" in line
    assert not list(tmp_path.iterdir())
    # what the reference does: drop them, with its warning
    assert _build(tmp_path, xous_elfs, *inis, "--ignore-unusable-swap") == 0
    err = capsys.readouterr().err
    assert ("warning: inis regions specified, but no swap region specified. Ignoring inis "
            "regions!") in err
    assert inspect_file(tmp_path / "args.bin").names == {1: "kernel", 2: "init"}
    assert create_image_main([*argv, "--ignore-unusable-swap"]) == 0
    assert "--swap is ignored" in capsys.readouterr().err
    layout = inspect_file(tmp_path / "args.bin")
    assert layout.swap is None and not (tmp_path / "swap.img").exists()


def test_swap_needs_a_swap_name_and_nothing_is_written(
        xous_elfs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad(capsys, _build(tmp_path, xous_elfs, "--swap", "0x81000000:1M", *SEAL))
    assert "--swap-name" in line
    assert not list(tmp_path.iterdir())


def test_platform_rules(xous_elfs: dict[str, Path], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    name = ["--swap-name", str(tmp_path / "swap.img"), *SEAL]
    # precursor: the reference asserts swap above RAM's start, even when disjoint
    line = _bad(capsys, _build(tmp_path, xous_elfs, "--swap", "0:8M", "--platform",
                               "precursor", *name))
    assert "above the start of main RAM" in line
    # default: a swap overlapping RAM from its start cannot be separated
    line = _bad(capsys, _build(tmp_path, xous_elfs, "--swap", "0x7ff00000:2M", *name))
    assert "above the start of main RAM" in line
    assert not list(tmp_path.iterdir())
    # precursor, disjoint and above: RAM unchanged; bao1x: never trimmed
    assert _build(tmp_path, xous_elfs, "--swap", "0x81000000:1M", "--platform", "renode",
                  *name) == 0
    assert inspect_file(tmp_path / "args.bin").ram.size == 16 << 20
    assert _build(tmp_path, xous_elfs, "--swap", "0x80800000:1M", "--platform", "bao1x",
                  *name) == 0
    assert inspect_file(tmp_path / "args.bin").ram.size == 16 << 20
    assert _build(tmp_path, xous_elfs, "--swap", "0x80800000:1M", "--platform", "precursor",
                  *name) == 0
    assert inspect_file(tmp_path / "args.bin").ram.size == 8 << 20


def test_swap_outputs_never_replace_inputs_or_each_other(
        xous_elfs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(xous_elfs["shell"])
    base = ["--inis", str(xous_elfs["shell"]), "--swap", "0x81000000:1M", *SEAL]
    line = _bad(capsys, _build(tmp_path, xous_elfs, *base, "--swap-name",
                               str(xous_elfs["shell"])))
    assert "one of the inputs" in line
    line = _bad(capsys, _build(tmp_path, xous_elfs, *base, "--swap-name",
                               str(tmp_path / "args.bin")))
    assert "--swap-name names the same file as output" in line
    line = _bad(capsys, _build(tmp_path, xous_elfs, *base, "--swap-name",
                               str(tmp_path / "s.img"), "--swap-debug-name",
                               str(tmp_path / "s.uf2")))
    assert "--swap-debug-name names the same file" in line
    assert digest(xous_elfs["shell"]) == before
    assert not list(tmp_path.iterdir())


def test_bad_swap_values_name_the_option(xous_elfs: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = ["--swap-name", str(tmp_path / "swap.img")]
    for swap, extra, want in (
            ("0x81000000", SEAL, "--swap='0x81000000': expected OFFSET:SIZE"),
            ("0x81000000:0", SEAL, "--swap='0x81000000:0'"),
            ("0x81000000:1M", ["--git-rev", "abc", *SEAL[2:]], "--git-rev='abc'"),
            ("0x81000000:1M", [*SEAL[:2], "--git-describe", "v1.2", *SEAL[4:]],
             "--git-describe='v1.2'"),
            ("0x81000000:1M", [*SEAL[:4], "--antirollback-override", "x"],
             "--antirollback-override='x'")):
        line = _bad(capsys, _build(tmp_path, xous_elfs, "--swap", swap, *name, *extra))
        assert want in line
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    line = _bad(capsys, _build(tmp_path, xous_elfs, "--swap", "0x81000000:1M", *name, *SEAL,
                               "--swap-key", str(key)))
    assert "k.pem" in line and "PRIVATE KEY" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem"]


def test_key_given_signs_the_swap_image(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    require_tool("openssl")
    key = tmp_path / "my.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)],
                   check=True, capture_output=True)
    assert _build(tmp_path, xous_elfs, "--swap", "0x81000000:1M", "--swap-name",
                  str(tmp_path / "swap.img"), "--swap-key", str(key), *SEAL) == 0
    img = (tmp_path / "swap.img").read_bytes()
    sig = swap_image.parse_swap_image(img).signature
    assert sig is not None
    public = ed25519.public_key(ed25519.seed_from_pem(key.read_bytes()))
    assert signed.verify_signed(img, sig, [public]).public == public


def test_git_and_the_anti_rollback_table_come_from_the_working_directory(
        xous_elfs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("git")
    repo = tmp_path / "xous-core"
    (repo / "signing").mkdir(parents=True)
    env = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "signing" / "anti-rollback.hjson").write_text(
        '{\n  // counters\n  "kernel": "1",\n  "swap": "7"  // bumped\n}\n')
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, *env, "commit", "-qm", "x"], check=True)
    subprocess.run([*git, *env, "tag", "-a", "v0.9.8", "-m", "v0.9.8"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    monkeypatch.chdir(repo)
    out = tmp_path / "out"
    out.mkdir()
    assert _build(out, xous_elfs, "--swap", "0x81000000:1M", "--swap-name",
                  str(out / "swap.img")) == 0
    img = (out / "swap.img").read_bytes()
    parsed = swap_image.parse_swap_image(img)
    assert parsed.header.partial_nonce == int(head[-16:], 16)
    sig = parsed.signature
    assert sig is not None and sig.anti_rollback == 7 and str(sig.semver) == "v0.9.8-0"
    # without the table (and no override) it is an error naming the file, nothing written
    (repo / "signing" / "anti-rollback.hjson").unlink()
    for written in list(out.iterdir()):
        written.unlink()
    line = _bad(capsys, _build(out, xous_elfs, "--swap", "0x81000000:1M", "--swap-name",
                               str(out / "swap.img")))
    assert "anti-rollback.hjson" in line and "--antirollback-override" in line
    # outside a git work tree: an error that says which option to give
    monkeypatch.chdir(tmp_path)
    line = _bad(capsys, _build(out, xous_elfs, "--swap", "0x81000000:1M", "--swap-name",
                               str(out / "swap.img"), "--antirollback-override", "1"))
    assert "git rev-parse HEAD" in line and "--git-rev" in line
    assert not list(out.iterdir())
