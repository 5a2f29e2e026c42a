"""Safe staging of rootfs archives: good archives made by GNU tar/cpio, hostile ones refused."""

from __future__ import annotations

import gzip
import io
import os
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.disk.archive import extract_archive
from bootproof.builder.disk.staged import DIR_BYTES
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
    ([(_info("up", tarfile.SYMTYPE, "../../.."), b""),], "escapes"),
    ([(_info("d", tarfile.SYMTYPE, "/tmp"), b""), (_info("d/escaped"), b"x")],
     "through a symlink"),
    ([(_info("h", tarfile.LNKTYPE, "/etc/passwd"), b"")], "absolute"),
    ([(_info("h", tarfile.LNKTYPE, "missing"), b"")], "not an earlier regular file"),
    ([(_info("h", tarfile.LNKTYPE, "../outside"), b"")], "'..'"),
    ([(_info("d", tarfile.DIRTYPE), b""), (_info("h", tarfile.LNKTYPE, "d"), b"")],
     "not an earlier regular file"),
    # a name met twice must keep its type: a later member may not turn it into another kind
    ([(_info("a"), b"x"), (_info("a", tarfile.SYMTYPE, "/etc/passwd"), b"")], "type"),
    ([(_info("a", tarfile.SYMTYPE, "b"), b""), (_info("a"), b"x")], "type"),
    ([(_info("a", tarfile.FIFOTYPE), b""), (_info("a", tarfile.CHRTYPE), b"")], "type"),
    ([(_info("a", tarfile.DIRTYPE), b""), (_info("a"), b"x")], "replaces a directory"),
    ([(_info("console", tarfile.CHRTYPE), b""), (_info("console/x"), b"x")],
     "passes through"),
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


def test_unknown_content_and_missing_file(tmp_path: Path) -> None:
    odd = tmp_path / "rootfs.cpio.gz"  # the name says cpio.gz; the content is a zip
    odd.write_bytes(b"PK\x03\x04" + b"\0" * 600)
    with pytest.raises(FormatError, match=r"not a cpio .* or tar archive") as info:
        extract_archive(odd, _staging(tmp_path))
    assert info.value.path == str(odd)
    old_cpio = tmp_path / "old.cpio"
    old_cpio.write_bytes(b"070707" + b"0" * 600)  # cpio -H odc: names the format to use
    with pytest.raises(FormatError, match="newc"):
        extract_archive(old_cpio, tmp_path / "s2")
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


def _fakeroot_cpio(tmp: Path, script: str) -> Path:
    """Run ``script`` in a fresh directory under fakeroot, then archive it with cpio."""
    require_tool("fakeroot", "cpio")
    src = tmp / "src"
    src.mkdir()
    subprocess.run(["fakeroot", "--", "sh", "-euc",
                    script + "\nfind . | LC_ALL=C sort | cpio -o -H newc --quiet > ../a.cpio"],
                   cwd=src, check=True)
    return tmp / "a.cpio"


def test_device_nodes_and_fifos_are_staged_as_metadata(tmp_path: Path) -> None:
    archive = _fakeroot_cpio(tmp_path, """
mkdir dev
mknod dev/console c 5 1
mknod dev/vda b 254 3
mkfifo dev/initctl
chmod 600 dev/console
""")
    tree = extract_archive(archive, _staging(tmp_path))
    console, vda = tree.entries["dev/console"], tree.entries["dev/vda"]
    assert (console.kind, console.perm, console.rdev) == (Kind.CHAR, 0o600, (5, 1))
    assert (vda.kind, vda.rdev) == (Kind.BLOCK, (254, 3))
    assert tree.entries["dev/initctl"].kind is Kind.FIFO
    # nothing the staging directory could not hold unprivileged was made there
    assert not (tree.root / "dev/console").exists()
    assert not (tree.root / "dev/vda").exists()


def test_socket_is_refused_as_unarchivable(tmp_path: Path) -> None:
    require_tool("cpio")
    src = tmp_path / "src"
    src.mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "log.sock"))
        raw = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=b"log.sock\n",
                             cwd=src, capture_output=True, check=True).stdout
    archive = tmp_path / "sock.cpio"
    archive.write_bytes(raw)
    with pytest.raises(FormatError, match="socket") as info:
        extract_archive(archive, _staging(tmp_path))
    assert "log.sock" in str(info.value) and "cannot be archived" in str(info.value)


def test_hard_links_to_devices_from_cpio(tmp_path: Path) -> None:
    archive = _fakeroot_cpio(tmp_path, """
mkdir dev
mknod dev/null c 1 3
ln dev/null dev/null2
""")
    tree = extract_archive(archive, _staging(tmp_path))
    null, null2 = tree.entries["dev/null"], tree.entries["dev/null2"]
    assert null.rdev == null2.rdev == (1, 3)
    assert (null.link_to, null2.link_to) == (None, "dev/null")


def test_hard_links_to_symlinks_from_gnu_tar(tmp_path: Path) -> None:
    require_tool("fakeroot", "tar")
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["fakeroot", "--", "sh", "-euc", """
mkdir bin
ln -s busybox bin/sh
ln -P bin/sh bin/sh2
tar --numeric-owner -cf ../a.tar .
"""], cwd=src, check=True)
    tree = extract_archive(tmp_path / "a.tar", _staging(tmp_path))
    # tar lists the two names in directory order: the second is the hard link
    sh, sh2 = tree.entries["bin/sh"], tree.entries["bin/sh2"]
    assert sh.kind is sh2.kind is Kind.SYMLINK
    assert (sh.link_to, sh2.link_to) in ((None, "bin/sh"), ("bin/sh2", None))


def _zeros_tar(tmp: Path, tool: str, size: int) -> Path:
    require_tool("tar", tool)
    src = tmp / "src"
    src.mkdir()
    with open(src / "zeros", "wb") as fh:
        fh.truncate(size)
    path = tmp / "zeros.tar"
    subprocess.run(["tar", "--numeric-owner", f"--use-compress-program={tool}", "-cf", path,
                    "-C", src, "zeros"], check=True)
    return path


@pytest.mark.parametrize("tool", ["gzip", "xz", "zstd"])
def test_decompression_bomb_stops_at_the_limit(tmp_path: Path, tool: str) -> None:
    archive = _zeros_tar(tmp_path, tool, 64 << 20)
    assert archive.stat().st_size < (1 << 20)  # what makes it a bomb
    stage = _staging(tmp_path)
    with pytest.raises(FormatError, match="max-rootfs-size") as info:
        extract_archive(archive, stage, max_bytes=4 << 20)
    assert info.value.path == str(archive) and "zeros" in str(info.value)
    written = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
    assert written <= 4 << 20


@pytest.mark.parametrize("tool", ["bzip2", "xz", "zstd"])
def test_truncated_stream_is_refused(tmp_path: Path, tool: str) -> None:
    require_tool("tar", tool)
    src = _tree(tmp_path)
    (src / "big").write_bytes(os.urandom(200_000))
    good = tmp_path / "good.tar"
    subprocess.run(["tar", f"--use-compress-program={tool}", "-cf", good, "-C", src, "."],
                   check=True)
    cut = tmp_path / "cut"
    cut.write_bytes(good.read_bytes()[:-5000])
    with pytest.raises(FormatError) as info:
        extract_archive(cut, _staging(tmp_path))
    assert info.value.path == str(cut)
