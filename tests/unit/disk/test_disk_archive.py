"""Safe staging of rootfs archives: good archives made by GNU tar/cpio, hostile ones refused."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.disk.archive import DIR_BYTES, extract_archive
from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats.cpio import CpioEntry, Kind, write_newc


def _tree(tmp: Path) -> Path:
    src = tmp / "src"
    (src / "etc/init.d").mkdir(parents=True)
    (src / "bin").mkdir()
    (src / "etc/hostname").write_text("dom0\n")
    (src / "etc/init.d/rcS").write_text("#!/bin/sh\necho up\n")
    (src / "etc/init.d/rcS").chmod(0o755)
    (src / "bin/busybox").write_bytes(b"\x7fELF" + b"\0" * 3000)
    (src / "bin/sh").symlink_to("busybox")
    (src / "bin/ash").symlink_to("/bin/busybox")
    return src


def _staging(tmp: Path) -> Path:
    path = tmp / "stage"
    path.mkdir()
    return path


def _check_staged(stage: Path) -> None:
    assert (stage / "etc/hostname").read_text() == "dom0\n"
    assert (stage / "etc/init.d/rcS").read_text() == "#!/bin/sh\necho up\n"
    assert os.readlink(stage / "bin/sh") == "busybox"
    assert os.readlink(stage / "bin/ash") == "/bin/busybox"


def test_tar_gz_from_gnu_tar(tmp_path: Path) -> None:
    require_tool("tar")
    src = _tree(tmp_path)
    archive = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "-czf", archive, "--owner=0", "--group=0", "-C", src, "."],
                   check=True)
    tree = extract_archive(archive, _staging(tmp_path))
    _check_staged(tree.root)
    assert tree.entries["etc/init.d/rcS"].perm == 0o755
    assert tree.entries["etc/init.d/rcS"].uid == 0
    assert tree.entries["bin/sh"].kind is Kind.SYMLINK
    # du -sb semantics, counted from the archive: 4 dirs (root, etc, etc/init.d, bin),
    # file sizes (hostname 5, rcS 18, busybox 3004) and symlink target lengths
    files = 5 + 18 + 3004
    links = len("busybox") + len("/bin/busybox")
    assert tree.content_bytes == 4 * DIR_BYTES + files + links


def test_cpio_gz_from_gnu_cpio(tmp_path: Path) -> None:
    require_tool("cpio")
    src = _tree(tmp_path)
    listing = subprocess.run(["find", "."], cwd=src, capture_output=True, check=True).stdout
    raw = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=listing, cwd=src,
                         capture_output=True, check=True).stdout
    archive = tmp_path / "rootfs.cpio.gz"
    archive.write_bytes(gzip.compress(raw))
    tree = extract_archive(archive, _staging(tmp_path))
    _check_staged(tree.root)


def _tar(tmp: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    path = tmp / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


def _nothing_outside(tmp: Path, before: set[str]) -> None:
    assert {p.name for p in tmp.iterdir()} == before
    assert not (tmp.parent / "escaped").exists()


@pytest.mark.parametrize(("members", "message"), [
    ([(_info("../escaped"), b"x")], "'..'"),
    ([(_info("ok/../../escaped"), b"x")], "'..'"),
    ([(_info("/escaped"), b"x")], "absolute"),
    ([(_info("dev/sda", tarfile.BLKTYPE), b"")], "block node"),
    ([(_info("dev/mem", tarfile.CHRTYPE), b"")], "char node"),
    ([(_info("up", tarfile.SYMTYPE, "../../.."), b""),], "escapes"),
    ([(_info("d", tarfile.SYMTYPE, "/tmp"), b""), (_info("d/escaped"), b"x")],
     "through a symlink"),
    ([(_info("h", tarfile.LNKTYPE, "/etc/passwd"), b"")], "absolute"),
    ([(_info("h", tarfile.LNKTYPE, "missing"), b"")], "not an earlier regular file"),
])
def test_hostile_tar_is_refused(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]],
                                message: str) -> None:
    archive = _tar(tmp_path, members)
    stage = _staging(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    with pytest.raises(FormatError, match=message) as info:
        extract_archive(archive, stage)
    assert info.value.path == str(archive)
    assert "member" in str(info.value)
    _nothing_outside(tmp_path, before)


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    good_tar = tmp_path / "good.tar.gz"
    with tarfile.open(good_tar, "w:gz") as tar:
        tar.add(src, arcname=".")
    good_cpio = gzip.compress(write_newc([CpioEntry("a", Kind.FILE, data=b"a" * 5000)]))
    cases = {"cut.tar.gz": good_tar.read_bytes()[:-40], "cut.cpio.gz": good_cpio[:-30]}
    for name, data in cases.items():
        cut = tmp_path / name
        cut.write_bytes(data)
        stage = tmp_path / f"stage-{name}"
        stage.mkdir()
        with pytest.raises(FormatError) as info:
            extract_archive(cut, stage)
        assert info.value.path == str(cut)


def test_cpio_with_bad_magic_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bad.cpio"
    archive.write_bytes(b"070707" + b"0" * 200)
    with pytest.raises(FormatError, match="magic"):
        extract_archive(archive, _staging(tmp_path))


def test_cpio_device_node_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "dev.cpio"
    archive.write_bytes(write_newc([CpioEntry("dev", Kind.DIR, 0o755),
                                    CpioEntry("dev/console", Kind.CHAR, 0o600, rdev_major=5,
                                              rdev_minor=1)]))
    with pytest.raises(FormatError, match="dev/console"):
        extract_archive(archive, _staging(tmp_path))


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.cpio, \.cpio\.gz or \.tar\.gz"):
        extract_archive(tmp_path / "rootfs.zip", _staging(tmp_path))
    with pytest.raises(InputError, match="not found"):
        extract_archive(tmp_path / "nope.cpio", tmp_path)


def test_cpio_hard_links_share_data(tmp_path: Path) -> None:
    require_tool("cpio")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"shared")
    os.link(src / "a", src / "b")
    raw = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=b"a\nb\n", cwd=src,
                         capture_output=True, check=True).stdout
    archive = tmp_path / "links.cpio"
    archive.write_bytes(raw)
    tree = extract_archive(archive, _staging(tmp_path))
    assert (tree.root / "a").read_bytes() == (tree.root / "b").read_bytes() == b"shared"
    assert os.stat(tree.root / "a").st_ino == os.stat(tree.root / "b").st_ino
