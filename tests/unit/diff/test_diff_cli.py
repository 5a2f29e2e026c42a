"""``bootproof diff`` on layout JSON files: the three report formats, --fail-on exit codes
and bad input. Expected numbers are worked out by hand in each test from the layouts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.layout.model import Item, Layout, Space
from bootproof.harness.cli import main

MIB = 1 << 20
BASE = 0x40000000


def _layout(kernel_size: int, ramdisk_start: int, *, extra: tuple[Item, ...] = (),
            ram_size: int = 64 * MIB) -> Layout:
    items = (Item("module", "dom0/kernel", BASE + 0x200000, kernel_size, 0x200000,
                  sha256="aa" * 32),
             Item("module", "dom0/ramdisk", ramdisk_start, 0x100000, 0x200000), *extra)
    return Layout("xen", (Space("ram", "byte", BASE, ram_size, items),))


def _write(tmp: Path, name: str, layout: Layout) -> Path:
    path = tmp / name
    path.write_text(json.dumps(layout.to_json()))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """The kernel grows from 1.5 MiB to 2.5 MiB; the ramdisk moves up by 2 MiB."""
    old = _write(tmp_path, "old.json", _layout(0x180000, BASE + 0x400000))
    new = _write(tmp_path, "new.json", _layout(0x280000, BASE + 0x600000))
    return old, new


def test_json_report_deltas(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    assert main(["diff", str(old), str(new), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "bootproof-diff" and doc["version"] == 1
    got = {(c["name"], c["what"]): c for c in doc["changes"]}
    assert set(got) == {("dom0/kernel", "resized"), ("dom0/ramdisk", "moved")}
    assert got["dom0/kernel", "resized"]["delta_bytes"] == 0x280000 - 0x180000
    assert got["dom0/ramdisk", "moved"]["delta"] == 2 * MIB
    assert got["dom0/ramdisk", "moved"]["old"]["start"] == BASE + 0x400000
    # old highest end: ramdisk 0x40400000 + 1 MiB; new: 0x40600000 + 1 MiB; RAM ends 64 MiB up
    (space,) = doc["spaces"]
    assert space["old_headroom"] == BASE + 64 * MIB - (BASE + 0x500000)
    assert space["new_headroom"] == BASE + 64 * MIB - (BASE + 0x700000)
    assert space["headroom_delta_bytes"] == -2 * MIB
    assert doc["overlaps"] == [] and doc["violations"] == []


def test_text_report_names_sizes_and_signed_deltas(pair: tuple[Path, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "2 change(s)" in out
    kernel = next(line for line in out.splitlines() if "dom0/kernel" in line)
    assert "0x180000 (1.5 MiB)" in kernel and "0x280000 (2.5 MiB)" in kernel
    assert "+0x100000 (+1 MiB)" in kernel
    ramdisk = next(line for line in out.splitlines() if "dom0/ramdisk" in line)
    assert "0x40400000" in ramdisk and "0x40600000" in ramdisk and "+0x200000 (+2 MiB)" in ramdisk
    assert "-0x200000 (-2 MiB)" in next(line for line in out.splitlines() if "headroom" in line)


def test_markdown_is_a_table_per_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flash = Space("flash", "byte", 0, 0x100000, (Item("image", "loader", 0, 0x8000),))
    flash2 = Space("flash", "byte", 0, 0x100000, (Item("image", "loader", 0, 0x9000),))
    old_l = _layout(0x180000, BASE + 0x400000)
    new_l = _layout(0x180000, BASE + 0x600000)
    old = _write(tmp_path, "a.json", Layout("xen", (*old_l.spaces, flash)))
    new = _write(tmp_path, "b.json", Layout("xen", (*new_l.spaces, flash2)))
    assert main(["diff", str(old), str(new), "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    headings = [n for n, line in enumerate(lines) if line.startswith("### ")]
    assert [lines[n] for n in headings] == ["### ram [byte]", "### flash [byte]"]
    for n in headings:
        assert lines[n + 2] == "| change | item | old | new | delta |"
        assert lines[n + 3] == "|---|---|---|---|---|"
        row = lines[n + 4].split(" | ")
        assert len(lines[n + 4].strip("|").split("|")) == 5, row
    assert lines[headings[1] + 4].startswith("| resized | `loader` | 0x8000 (32 KiB) | "
                                             "0x9000 (36 KiB) | +0x1000 (+4 KiB) |")


def test_new_overlap_and_fail_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path, "old.json", _layout(0x180000, BASE + 0x400000))
    # the kernel grows to 2.5 MiB: it ends at 0x40480000, past the ramdisk at 0x40400000
    new = _write(tmp_path, "new.json", _layout(0x280000, BASE + 0x400000))
    assert main(["diff", str(old), str(new), "--fail-on", "move"]) == 0
    capsys.readouterr()
    assert main(["diff", str(old), str(new), "--fail-on", "overlap", "--fail-on", "grow"]) == 1
    captured = capsys.readouterr()
    assert "NEW overlap: dom0/kernel" in captured.out
    assert "overlap: dom0/kernel and dom0/ramdisk in ram" in captured.err
    assert "grow: dom0/kernel in ram by +0x100000" in captured.err
    assert main(["diff", str(old), str(old), "--fail-on", "any"]) == 0
    assert main(["diff", str(old), str(new), "--fail-on", "any"]) == 1


def test_headroom_below(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    room = BASE + 64 * MIB - (BASE + 0x700000)  # 57 MiB free in NEW
    assert main(["diff", str(old), str(new), "--fail-on", "headroom-below=57M"]) == 0
    assert main(["diff", str(old), str(new), "--fail-on", f"headroom-below={room + 1}"]) == 1
    assert f"has {room} bytes free" in capsys.readouterr().err


@pytest.mark.parametrize(("argv_tail", "words"), [
    (["--fail-on", "shrink"], ["--fail-on", "'shrink'"]),
    (["--fail-on", "headroom-below=lots"], ["--fail-on headroom-below", "'lots'"]),
    (["--fail-on", "headroom-below"], ["--fail-on", "needs a size"]),
])
def test_bad_rule_exits_2(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                          argv_tail: list[str], words: list[str]) -> None:
    old, new = pair
    assert main(["diff", str(old), str(new), *argv_tail]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert len(err.strip().splitlines()) == 1


def test_bad_layout_field_names_file_field_value(pair: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = pair
    doc = json.loads(old.read_text())
    doc["spaces"][0]["items"][1]["size"] = "big"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["diff", str(old), str(bad), "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(bad) in captured.err and "spaces[0].items[1].size" in captured.err
    assert "'big'" in captured.err


@pytest.mark.parametrize(("content", "field", "value"), [
    (b"\x7fELF\x01\x01\x01" + bytes(100), "first bytes", "\\x7fELF"),
    (b"{not json", "line", "1"),
    (b'{"format": "bootproof-layout", "version": 9, "spaces": []}', "version", "9"),
    (b'{"format": "something-else"}', "format", "'something-else'"),
])
def test_unknown_or_broken_input_exits_2(pair: tuple[Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], content: bytes,
                                         field: str, value: str) -> None:
    old, _ = pair
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    assert main(["diff", str(bad), str(old)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and field in err and value in err, err


def test_missing_file_and_directory(pair: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = pair
    assert main(["diff", str(old), str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    assert main(["diff", str(old), str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["diff", str(old), str(old), "--new-dir", str(tmp_path)]) == 2
    assert "--new-dir" in capsys.readouterr().err


def test_output_file_written_whole(pair: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    out = tmp_path / "review.md"
    assert main(["diff", str(old), str(new), "--format", "markdown", "-o", str(out)]) == 0
    assert out.read_text().startswith("**Layout diff**")
    before = new.read_bytes()
    assert main(["diff", str(old), str(new), "-o", str(new)]) == 2
    assert "-o" in capsys.readouterr().err and new.read_bytes() == before


def test_markdown_failed_checks_and_no_differences(pair: tuple[Path, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    assert main(["diff", str(old), str(new), "--format", "markdown", "--fail-on", "grow"]) == 1
    out = capsys.readouterr().out.splitlines()
    n = out.index("**Failed checks:**")
    assert out[n + 2] == "- grow: dom0/kernel in ram by +0x100000"
    assert main(["diff", str(old), str(old), "--format", "markdown"]) == 0
    assert "No differences." in capsys.readouterr().out


def test_broken_args_bin_and_disk_image_exit_2(pair: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = pair
    args = tmp_path / "args.bin"
    args.write_bytes(b"XArg" + bytes(6))  # a tag header cut short
    assert main(["diff", str(args), str(old)]) == 2
    err = capsys.readouterr().err
    assert str(args) in err and len(err.strip().splitlines()) == 1
    # a DOS label whose one partition (type 0x83, sectors 2048..2048+100000) runs past
    # the end of a 1 MiB file
    mbr = bytearray(512)
    mbr[446 + 4] = 0x83
    mbr[446 + 8:446 + 16] = (2048).to_bytes(4, "little") + (100000).to_bytes(4, "little")
    mbr[510:512] = b"\x55\xaa"
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as fh:
        fh.write(mbr)
        fh.truncate(1 << 20)
    assert main(["diff", str(disk), str(disk)]) == 2
    err = capsys.readouterr().err
    assert str(disk) in err and "partition 1 end sector" in err and "102048" in err


def test_realigned_content_added_removed_in_a_sector_space(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def disk(*items: Item) -> Layout:
        return Layout("disk", (Space("disk", "sector", 0, 4096, items),))

    old = _write(tmp_path, "a.json", disk(
        Item("partition", "p1", 2048, 1024, 2048, sha256="11" * 32),
        Item("partition", "p2", 3072, 512, 512),
        Item("table", "ebr", 3584, 1)))
    new = _write(tmp_path, "b.json", disk(
        Item("partition", "p1", 2048, 1024, 2048, sha256="22" * 32),
        Item("partition", "p2", 3072, 512, 1024),
        Item("table", "gpt backup", 4063, 33)))
    assert main(["diff", str(old), str(new), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got = {(c["name"], c["what"]): (c["delta"], c["delta_bytes"]) for c in doc["changes"]}
    assert got == {("p1", "content"): (None, None), ("p2", "realigned"): (512, 512 * 512),
                   ("ebr", "removed"): (-1, -512), ("gpt backup", "added"): (33, 33 * 512)}
    # headroom: 4096 - 3585 sectors before, 4096 - 4096 after
    (space,) = doc["spaces"]
    assert (space["old_headroom"], space["new_headroom"]) == (511, 0)
    assert space["headroom_delta_bytes"] == -511 * 512
    assert main(["diff", str(old), str(new)]) == 0
    text = capsys.readouterr().out
    assert "sector 4063 (0x001fbe00)" in text  # 4063 * 512
    assert "512 sectors -> 1024 sectors" in text  # p2's alignment
    assert main(["diff", str(old), str(new), "--fail-on", "headroom-below=1"]) == 1
    assert "disk has 0 bytes free, below 1" in capsys.readouterr().err


def test_layouts_of_two_targets_are_refused(pair: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = pair
    disk = _write(tmp_path, "disk.json", Layout("disk", (Space("disk", "sector", 0, 100),)))
    assert main(["diff", str(old), str(disk)]) == 2
    err = capsys.readouterr().err
    assert str(disk) in err and "target='disk'" in err and "xen layout" in err


def test_kind_told_by_content_not_name(pair: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    renamed = tmp_path / "looks-like-a-disk.img"
    renamed.write_bytes(new.read_bytes())
    assert main(["diff", str(old), str(renamed), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["changes"] == 2
    config = tmp_path / "layout.json"
    config.write_text("# an ImageBuilder config, whatever its name\nMEMORY_START=0x40000000\n")
    assert main(["diff", str(config), str(old)]) == 2  # read as a config: planning fails
    err = capsys.readouterr().err
    assert str(config) in err and "UBOOT_SOURCE" in err


def test_configs_and_directories_relative_to_another_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Typed from a directory that holds neither the config's files nor the config's own
    directory: ``--old-dir ../a --new-dir ../b`` are relative to the working directory, and
    planning writes nothing into either."""
    require_tool("dtc")
    for side, kernel in (("a", 3_000_000), ("b", 3_200_000)):
        d = tmp_path / side
        d.mkdir()
        subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(d / "virt.dtb"), "-"],
                       input=b"/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n"
                       b"memory@40000000 { device_type = \"memory\"; reg = <0 0x40000000 0 "
                       b"0x40000000>; };\nchosen { }; };\n", check=True, capture_output=True)
        (d / "Image").write_bytes(bytes(kernel))
        (d / "xen").write_bytes(bytes(4096))
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "config").write_text(
        "MEMORY_START=0x40000000\nMEMORY_END=0x80000000\nDEVICE_TREE=virt.dtb\nXEN=xen\n"
        "DOM0_KERNEL=Image\nNUM_DOMUS=0\nLOAD_CMD=tftpb\nUBOOT_SOURCE=boot.source\n"
        "UBOOT_SCRIPT=boot.scr\n")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert main(["diff", "../configs/config", "../configs/config", "--old-dir", "../a",
                 "--new-dir", "../b", "--format", "json"]) == 0
    (change,) = json.loads(capsys.readouterr().out)["changes"]
    assert (change["name"], change["what"], change["delta"]) == (
        "dom0-kernel", "resized", 3_200_000 - 3_000_000)
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.name != "cwd"}
    assert after == before
