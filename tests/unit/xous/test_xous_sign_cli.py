"""bootproof xous sign | inspect | read-tags on the command line: round trips (build ->
sign -> inspect -> verify), failed verification exits 1, the spec's vectors through the
commands, every file kind inspect opens."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from xousargs_helpers import XOUS_FIXTURES, SynSection, write_elf32

from bootproof.builder.formats import uf2
from bootproof.builder.xous.cli import create_image_main
from bootproof.builder.xous.keys import BAO1X_PUBKEY_SLOTS, DEVELOPER_KEY
from bootproof.harness.cli import main as bootproof_main

REPO = Path(__file__).resolve().parents[3]
CSV = str(REPO / "qemu_configs" / "riscv32-virt" / "csr.csv")
VERSIONS = ["--min-xous-ver", "v0.9.8-791", "--git-describe", "v0.10.0-19-g0d934e1"]
SEAL = ["--git-rev", "0123456789abcdef0123456789abcdef01234567", "--git-describe",
        "v0.10.0-19-g0d934e1", "--antirollback-override", "1"]
BAO1 = BAO1X_PUBKEY_SLOTS[0][1].hex()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """An args.bin with swap (two IniS programs) built from synthetic ELFs, 24 KiB+ so a
    Precursor --defile (byte 16778 of the signed region) lands inside it."""
    k = write_elf32(tmp_path / "kernel.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(range(256)) * 40),
        SynSection(".data", 0xFFD80000, 0x3, b"DATA" * 4),
    ], entry=0xFFD00000)
    progs = []
    for name, base in (("init", 0x10000), ("alpha", 0x20000), ("beta", 0x30000)):
        progs.append(write_elf32(tmp_path / f"{name}.elf", [
            SynSection(".text", base, 0x6, name.encode() * 300),
            SynSection(".bss", base + 0x1000, 0x3, None, size=0x100),
        ], entry=base))
    assert create_image_main([str(tmp_path / "args.bin"), "-k", str(k), "-i", str(progs[0]),
                              "--inis", str(progs[1]), "--inis", str(progs[2]), "-c", CSV,
                              "--swap", "0x81000000:1M", "--swap-name",
                              str(tmp_path / "swap.img"), "--swap-debug-name",
                              str(tmp_path / "swap-debug.img"), "-q", *SEAL]) == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = bootproof_main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_precursor_round_trip_build_sign_inspect_verify(
        built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = built / "xous.img"
    rc, _, _ = _run(capsys, "xous", "sign", "--kernel-image", str(built / "args.bin"),
                    "--kernel-output", str(img), *VERSIONS)
    assert rc == 0
    rc, out, err = _run(capsys, "xous", "inspect", str(img))
    assert rc == 0, err
    assert "Precursor signed kernel image (xous.img, version 2)" in out
    assert f"signature OK (Ed25519ph over 0x{len(img.read_bytes()) - 4096:x} bytes" in out
    assert "DEVELOPER KEY" in out  # loudly
    assert "Inner args.bin" in out and "Swap 'Swap': 0x81000000" in out
    rc, out, _ = _run(capsys, "xous", "inspect", str(img), "--json")
    data = json.loads(out)
    assert data["format"] == "xous-inspect" and data["kind"] == "precursor-v2"
    assert data["signature"]["version"] == 2 and data["signature"]["header_len"] == 4096
    assert data["signature"]["min_version"] == "v0.9.8-791"
    assert data["verification"]["ok"] and data["verification"]["developer"]
    assert data["verification"]["public_key"] == DEVELOPER_KEY.public.hex()
    assert data["args"]["format"] == "xous-args"
    assert data["args"]["names"] == {"1": "kernel", "2": "init", "3": "alpha", "4": "beta"}
    assert data["args"]["swap"]["start"] == 0x81000000
    # the inner args.bin is the file that was signed, byte for byte
    assert img.read_bytes()[4096:4096 + (built / "args.bin").stat().st_size] == (
        built / "args.bin").read_bytes()


@pytest.mark.parametrize("fmt", ["precursor-v2", "precursor-v1", "bao1x"])
def test_a_flipped_byte_or_a_wrong_key_fails_with_exit_1(
        built: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    img = built / "signed.img"
    part = "loader" if fmt == "precursor-v1" else "kernel"
    extra = ["--bao1x", "--antirollback-override", "1"] if fmt == "bao1x" else []
    assert _run(capsys, "xous", "sign", f"--{part}-image", str(built / "args.bin"),
                f"--{part}-output", str(img), *VERSIONS, *extra)[0] == 0
    assert _run(capsys, "xous", "inspect", str(img))[0] == 0
    rc, out, err = _run(capsys, "xous", "inspect", str(img), "--key", BAO1)
    assert rc == 1
    assert f"signature does not match key {BAO1} (bao1)" in err
    assert "Verification FAILED" in out
    data = bytearray(img.read_bytes())
    data[-100] ^= 0x01  # inside the signed payload, whatever the format
    img.write_bytes(bytes(data))
    rc, out, err = _run(capsys, "xous", "inspect", str(img))
    assert rc == 1 and "signature does not match key" in err
    assert "Verification FAILED" in out  # and the decode is printed all the same


@pytest.mark.parametrize("fmt", ["precursor", "bao1x"])
def test_a_defiled_image_fails_verification(built: Path, capsys: pytest.CaptureFixture[str],
                                            fmt: str) -> None:
    extra = ["--bao1x", "--antirollback-override", "1"] if fmt == "bao1x" else []
    for i, how in enumerate((["--defile"], ["defile"])):
        img = built / f"defiled{i}.img"
        assert _run(capsys, "xous", "sign", "--kernel-image", str(built / "args.bin"),
                    "--kernel-output", str(img), *VERSIONS, *extra, *how)[0] == 0
        rc, _, err = _run(capsys, "xous", "inspect", str(img))
        assert rc == 1 and "signature does not match key" in err


def test_a_key_given_as_pem_files(built: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("openssl")
    key, pub = tmp_path / "my.key", tmp_path / "my.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    img = built / "xous.img"
    assert _run(capsys, "xous", "sign", "--kernel-image", str(built / "args.bin"),
                "--kernel-output", str(img), "--kernel-key", str(key), *VERSIONS)[0] == 0
    rc, _, err = _run(capsys, "xous", "inspect", str(img))  # no known key signed it
    assert rc == 1 and "(developer key)" in err and "(bao1)" in err
    for spec in (str(pub), str(key)):
        rc, out, err = _run(capsys, "xous", "inspect", str(img), "--key", spec)
        assert rc == 0, err
        assert "signature OK" in out and "DEVELOPER KEY" not in out


def test_spec_model_vectors_through_sign(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Spec addendum §3.8 (a Python model, not the Rust tool): 4096 zero bytes, dev key.
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(4096))
    for argv, sha in (
            (["--kernel-output", str(tmp_path / "v2.img")],
             "8c7dd593a02cf3ea3e43b70b318d1dbbfbd52620e4bec36d540b48a435cd2e02"),
            (["--loader-output", str(tmp_path / "v1.bin")],
             "44eca5819e34d89d77738340ab013de18def77d22f7463578a2f1bdb47be9bf2"),
            (["--kernel-output", str(tmp_path / "k.img"), "--bao1x", "--function-code",
              "kernel", "--antirollback-override", "1"],
             "47b8f4ac6fb05c83f61d27f45d1ab333a6aa15e5ed7d65536925d735dcfd5534")):
        assert _run(capsys, "xous", "sign", "--kernel-image", str(zeros), "--loader-image",
                    str(zeros), *VERSIONS, *argv)[0] == 0
        assert _sha(Path(argv[1])) == sha
    # bao1x: a UF2 beside the image, at the kernel's address
    u = uf2.decode((tmp_path / "k.uf2").read_bytes())
    assert u.base == 0x6009FD00 and u.family == 0xA7D76373
    assert u.data[:4864] == (tmp_path / "k.img").read_bytes()


def test_sign_refuses_before_writing(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = str(built / "args.bin")
    for argv, want in (
            (["--kernel-image", args], "nothing to sign"),
            (["--kernel-image", args, "--kernel-output", str(built / "k.bin"), "--bao1x",
              "--antirollback-override", "1"], "must end in .img"),
            (["--kernel-image", args, "--kernel-output", args], "one of the inputs"),
            (["--kernel-image", args, "--kernel-output", str(built / "k.img"),
              "--min-xous-ver", "nine"], "--min-xous-ver='nine'"),
            (["--kernel-image", str(built / "none.bin"), "--kernel-output",
              str(built / "k.img")], "none.bin"),
    ):
        rc, _, err = _run(capsys, "xous", "sign", *VERSIONS[2:], *argv)
        assert rc == 2 and want in err
    assert not (built / "k.img").exists() and not (built / "k.bin").exists()


def test_inspect_swap_images(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "xous", "inspect", str(built / "swap.img"), "--args",
                        str(built / "args.bin"))
    assert rc == 0, err
    assert "swap image (encrypted, signed)" in out and "function        swap (0x8000)" in out
    assert "Decryption: every page authenticates with the zero key" in out
    assert "IniS PID 3 'alpha'" in out and "IniS PID 4 'beta'" in out
    rc, out, err = _run(capsys, "xous", "inspect", str(built / "swap.img"),
                        "--decrypt-key", "11" * 32)
    assert rc == 1 and "does not decrypt with the key given" in err
    assert "Decryption FAILED" in out and "signature OK" in out
    rc, out, _ = _run(capsys, "xous", "inspect", str(built / "swap-debug.img"), "--json")
    data = json.loads(out)
    assert data["kind"] == "swap-debug" and data["decryption"] is None
    assert [p["load_offset"] for p in data["swap_args"]["programs"]] == [0x1000, 0x2000]
    rc, out, _ = _run(capsys, "xous", "inspect", str(built / "swap.uf2"))
    assert rc == 0 and "UF2: " in out and "from 0x70000000" in out
    # the swap args block alone (the debug image without its header page)
    block = built / "block.bin"
    block.write_bytes((built / "swap-debug.img").read_bytes()[4096:])
    rc, out, _ = _run(capsys, "xous", "inspect", str(block))
    assert rc == 0 and "Swap args (" in out and "IniS #2 (PID unknown)" in out


def test_inspect_refuses_garbage_and_bad_keys(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x7fELF" + bytes(100))
    rc, _, err = _run(capsys, "xous", "inspect", str(junk))
    assert rc == 2 and "not a Xous file" in err
    fixture = str(XOUS_FIXTURES / "args-default-2020.bin")
    rc, _, err = _run(capsys, "xous", "inspect", fixture, "--key", str(tmp_path / "none"))
    assert rc == 2 and "none" in err
    rc, _, err = _run(capsys, "xous", "inspect", fixture, "--decrypt-key", "abc")
    assert rc == 2 and "abc" in err


def test_read_tags_prints_the_tool_lines(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Spec addendum §4, the verified example on args-default-2020.bin
    rc, out, _ = _run(capsys, "xous", "read-tags", str(XOUS_FIXTURES / "args-default-2020.bin"))
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "Found Xous Args Size at offset 8, setting total_words to 208"
    assert lines[1] == ("67724158 (XArg) (20 bytes, crc: 48b0): 00000034 00000001 40000000 "
                        "01000000 78457253  CRC: OK")
    assert lines[3] == ("45696e49 (IniE) (32 bytes, crc: 2aba): 000000d0 00015dae 000100b8 "
                        "00001b65 00012000 04003dae 00015dae 04000018  CRC: OK")
    assert len(lines) == 5
    # a signed image is not stripped: one line, then the tool's panic (exit 2 here)
    img = tmp_path / "xous.img"
    assert _run(capsys, "xous", "sign", "--kernel-image",
                str(XOUS_FIXTURES / "args-default-2020.bin"), "--kernel-output", str(img),
                *VERSIONS)[0] == 0
    rc, out, err = _run(capsys, "xous", "read-tags", str(img))
    assert rc == 2 and len(out.splitlines()) == 1
    assert "exceeded total words (0)" in err
