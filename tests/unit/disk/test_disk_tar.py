"""The streaming tar reader on archives GNU tar writes in each of its formats."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from disk_testutil import EPOCH, tar_listing

from bootproof.builder.errors import FormatError
from bootproof.builder.formats import tar

LONG = "usr/share/" + "/".join(f"directory-{i:02d}" for i in range(12)) + "/file"  # 200+


def _tree(tmp: Path) -> Path:
    src = tmp / "src"
    (src / Path(LONG).parent).mkdir(parents=True)
    (src / LONG).write_bytes(b"deep\n")
    (src / "short").write_bytes(b"x" * 1000)
    (src / "link").symlink_to(LONG)
    (src / "hard").hardlink_to(src / "short")
    subprocess.run(["find", ".", "-exec", "touch", "-h", "-d", f"@{EPOCH}", "{}", "+"],
                   cwd=src, check=True)
    return src


def _read(archive: bytes) -> dict[str, tuple[tar.TarMember, bytes]]:
    return {m.name.removeprefix("./").rstrip("/"): (m, c.read())
            for m, c in tar.stream_tar(io.BytesIO(archive), archive="t.tar")}


@pytest.mark.parametrize("fmt", ["gnu", "oldgnu", "posix", "ustar", "v7"])
def test_every_gnu_tar_format_reads_as_tar_lists_it(tmp_path: Path, fmt: str) -> None:
    require_tool("tar")
    src = _tree(tmp_path)
    extra = {"v7": [], "ustar": [LONG]}.get(fmt, ["link", LONG])
    names = [".", "short", "hard", "usr", *extra]
    archive = tmp_path / "a.tar"
    # v7 and ustar cannot hold a 200-character link target; ustar splits the long name
    subprocess.run(["tar", f"--format={fmt}", "--numeric-owner", "--owner=1234",
                    "--group=4321", "-cf", archive, "--no-recursion", *names], cwd=src,
                   check=True)
    members = _read(archive.read_bytes())
    listing = tar_listing(archive)
    assert set(members) == set(listing)
    for name, item in listing.items():
        member, data = members[name]
        assert (member.uid, member.gid) == (item.uid, item.gid) == (1234, 4321)
        assert member.mtime == EPOCH
        assert member.mode == item.perm
        if item.type == "-":
            assert member.type in tar.REGULAR and data == (src / name).read_bytes()
        elif item.type == "h":
            assert member.type == tar.HARDLINK and member.linkname == item.target
        elif item.type == "l":
            assert member.type == tar.SYMLINK and member.linkname == item.target == LONG
        elif item.type == "d":
            assert member.type == tar.DIRECTORY


def test_large_owner_in_base_256(tmp_path: Path) -> None:
    require_tool("tar")
    src = _tree(tmp_path)
    archive = tmp_path / "a.tar"
    big = 3_000_000_000  # past the 7 octal digits of a header field: GNU writes base-256
    subprocess.run(["tar", "--format=gnu", f"--owner={big}", f"--group={big + 1}", "-cf",
                    archive, "short"], cwd=src, check=True)
    member, _ = _read(archive.read_bytes())["short"]
    assert (member.uid, member.gid) == (big, big + 1)


def test_sparse_member_is_refused(tmp_path: Path) -> None:
    require_tool("tar")
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "holes", "wb") as fh:
        fh.seek(1 << 20)
        fh.write(b"end")
    for fmt in ("gnu", "posix"):
        archive = tmp_path / f"{fmt}.tar"
        subprocess.run(["tar", f"--format={fmt}", "--sparse", "-cf", archive, "holes"],
                       cwd=src, check=True)
        with pytest.raises(FormatError, match="sparse") as info:
            _read(archive.read_bytes())
        assert info.value.field == "holes"


def test_corrupt_header_and_truncation(tmp_path: Path) -> None:
    require_tool("tar")
    src = _tree(tmp_path)
    archive = tmp_path / "a.tar"
    subprocess.run(["tar", "-cf", archive, "short"], cwd=src, check=True)
    data = bytearray(archive.read_bytes())
    data[10] ^= 0x55  # inside the first name: the checksum no longer matches
    with pytest.raises(FormatError, match="checksum"):
        _read(bytes(data))
    with pytest.raises(FormatError, match="truncated") as info:
        _read(archive.read_bytes()[:700])  # inside short's data
    assert info.value.field == "short"
