"""The asset cache: manifest, offline reuse, verified downloads, rootless unpacking.

No network: downloads use file:// URLs and the apt steps are replaced by functions that
fail the test if they are ever called.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.errors import FormatError, ToolError
from bootproof.harness.xen import assets
from bootproof.harness.xen.assets import (
    BUSYBOX_PACKAGE,
    MANIFEST_NAME,
    XEN_PACKAGE,
    Manifest,
    ensure_guest_assets,
)
from bootproof.harness.xen.debian import (
    AptState,
    PackageRecord,
    download,
    parse_print_uris,
    unpack_deb,
)

KERNEL = "linux-image-6.1.0-99-arm64-unsigned"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_parse_print_uris_line() -> None:
    # the shape apt-get download --print-uris prints (epoch escaped as %3a in the file name)
    line = ("'http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4%2bb1"
            "_arm64.deb' busybox-static_1%3a1.35.0-4+b1_arm64.deb 822236 SHA256:"
            + "AB" * 32)
    (rec,) = parse_print_uris("Reading package lists...\n" + line + "\n")
    assert rec.name == "busybox-static"
    assert rec.version == "1:1.35.0-4+b1"
    assert rec.size == 822236
    assert rec.sha256 == "ab" * 32
    assert rec.url.startswith("http://deb.debian.org/")


def test_private_apt_options_never_point_at_system_config(tmp_path: Path) -> None:
    opts = AptState(tmp_path).options()
    pairs = dict(o.split("=", 1) for o in opts if o != "-o")
    assert pairs["Dir::Etc::SourceList"] == str(tmp_path / "sources.list")
    assert pairs["Dir::Etc::SourceParts"] == "/dev/null"
    assert pairs["Dir::State::Lists"].startswith(str(tmp_path))
    assert pairs["Dir::Cache"].startswith(str(tmp_path))
    assert pairs["APT::Architecture"] == "arm64"
    text = AptState(tmp_path, with_sources=True).sources_text()
    assert "bookworm main" in text and "bookworm-security main" in text
    assert "deb-src" in text and "arch=arm64" in text


def test_download_verifies_and_leaves_nothing_on_mismatch(tmp_path: Path) -> None:
    src = tmp_path / "pkg.deb"
    src.write_bytes(b"x" * 5000)
    good = PackageRecord("p", "1", "p_1_arm64.deb", _sha(b"x" * 5000), 5000, src.as_uri())
    out = download(good, tmp_path / "debs", None)
    assert out.read_bytes() == b"x" * 5000
    bad = PackageRecord("p", "1", "q_1_arm64.deb", _sha(b"y"), 5000, src.as_uri())
    with pytest.raises(ToolError, match="does not match"):
        download(bad, tmp_path / "debs", None)
    assert sorted(p.name for p in (tmp_path / "debs").iterdir()) == ["p_1_arm64.deb"]


def _make_deb(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    tree = tmp_path / f"tree-{name}"
    for rel, data in files.items():
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (tree / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: arm64\nMaintainer: t <t@example.org>\n"
        "Description: test\n")
    deb = tmp_path / f"{name}_1.0_arm64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True,
                   capture_output=True)
    shutil.rmtree(tree)
    return deb


def test_unpack_deb_without_root(tmp_path: Path) -> None:
    require_tool("dpkg-deb")
    deb = _make_deb(tmp_path, "demo", {"boot/xen-4.17-arm64": b"XEN" * 10})
    out = unpack_deb(deb, tmp_path / "unpacked" / "demo")
    assert (out / "boot" / "xen-4.17-arm64").read_bytes() == b"XEN" * 10
    assert not (tmp_path / "unpacked" / "demo.tmp").exists()


def _fake_cache(tmp_path: Path) -> Path:
    """A cache as a first (online) run leaves it: debs, unpacked trees, manifest."""
    require_tool("dpkg-deb")
    root = tmp_path / "cache"
    contents = {
        XEN_PACKAGE: {"boot/xen-4.17-arm64": b"xen image"},
        KERNEL: {"boot/vmlinuz-6.1.0-99-arm64": b"kernel image"},
        BUSYBOX_PACKAGE: {"bin/busybox": b"\x7fELF busybox"},
    }
    recs = []
    for name, files in contents.items():
        deb = _make_deb(tmp_path, name, files)
        (root / "debs").mkdir(parents=True, exist_ok=True)
        dest = root / "debs" / deb.name
        deb.rename(dest)
        rec = PackageRecord(name, "1.0", dest.name, _sha(dest.read_bytes()),
                            dest.stat().st_size, "http://invalid.example/" + dest.name)
        unpack_deb(dest, root / "unpacked" / f"{name}_1.0")
        recs.append(rec)
    (root / MANIFEST_NAME).write_text(Manifest(tuple(recs)).to_text())
    return root


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(AptState, "update", boom)
    monkeypatch.setattr(assets, "download", boom)


def test_second_run_uses_cache_without_network(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_cache(tmp_path)
    _no_network(monkeypatch)
    got = ensure_guest_assets(root, progress=None)
    assert got.fetched is False
    assert got.xen.read_bytes() == b"xen image"
    assert got.kernel.read_bytes() == b"kernel image"
    assert got.busybox.read_bytes() == b"\x7fELF busybox"
    assert got.record("kernel").name == KERNEL
    doc = json.loads((root / MANIFEST_NAME).read_text())
    assert {p["name"] for p in doc["packages"]} == {XEN_PACKAGE, KERNEL, BUSYBOX_PACKAGE}
    assert all(len(p["sha256"]) == 64 and p["version"] == "1.0" for p in doc["packages"])


def test_tampered_deb_is_not_reused_offline(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_cache(tmp_path)
    _no_network(monkeypatch)
    deb = next((root / "debs").glob("busybox*"))
    deb.write_bytes(deb.read_bytes()[:-1] + b"\0")
    with pytest.raises(ToolError, match="offline"):
        ensure_guest_assets(root, offline=True, progress=None)


def test_missing_cache_offline_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="not cached"):
        ensure_guest_assets(tmp_path / "empty", offline=True, progress=None)


def test_bad_manifest_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_NAME
    path.write_text(json.dumps({"format": 1, "packages": [{"name": "x", "version": "1"}]}))
    with pytest.raises(FormatError, match="file"):
        Manifest.load(path)
