"""Helpers shared by the disk tests: read images back with independent tools."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOL_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C"}


def run(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          check=check, env=TOOL_ENV)


def sfdisk_json(image: Path) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(run("sfdisk", "-J", image).stdout)["partitiontable"]
    return table


def slice_partition(image: Path, start_lba: int, sectors: int, out: Path) -> Path:
    """Copy one partition out of a disk image into its own file."""
    with open(image, "rb") as src, open(out, "wb") as dst:
        src.seek(start_lba * 512)
        left = sectors * 512
        while left:
            chunk = src.read(min(left, 1 << 20))
            assert chunk, "image shorter than its partition table says"
            dst.write(chunk)
            left -= len(chunk)
    return out


def debugfs(image: Path, request: str) -> str:
    return run("debugfs", "-R", request, image).stdout


def fat_read(image: Path, path: str, out: Path) -> bytes:
    run("mcopy", "-n", "-i", image, f"::/{path}", out)
    return out.read_bytes()


def ext4_read(image: Path, path: str, out: Path) -> bytes:
    run("debugfs", "-R", f"dump -p /{path} {out}", image)
    return out.read_bytes()


def write_dts(tmp: Path, name: str, source: str) -> Path:
    dts = tmp / f"{name}.dts"
    dts.write_text(source)
    dtb = tmp / f"{name}.dtb"
    run("dtc", "-q", "-I", "dts", "-O", "dtb", "-o", dtb, dts)
    return dtb


# -- rootfs archives made by real tools, and what independent tools read back -------------

EPOCH = 1_700_000_000  # 2023-11-14 22:13:20 UTC: over six months old, so cpio -tv shows the year
SCRIPT_ENV = {**TOOL_ENV, "TZ": "UTC"}


def fakeroot(script: str, *, cwd: Path, state: Path) -> str:
    """Run the shell ``script`` under ``fakeroot``, keeping its state in ``state`` (so a
    second call sees the owners, device nodes and xattrs the first one made)."""
    load = ["-i", str(state)] if state.exists() else []
    proc = subprocess.run(["fakeroot", "-s", str(state), *load, "--", "sh", "-euc", script],
                          cwd=cwd, capture_output=True, text=True, env=SCRIPT_ENV,
                          check=False)
    assert proc.returncode == 0, f"fakeroot script failed: {proc.stderr}"
    return proc.stdout


def compress(raw: Path, tool: str | None) -> Path:
    """Compress ``raw`` with a real tool (``gzip``, ``bzip2``, ``xz``, ``zstd``) into a file
    with the tool's usual suffix, or return ``raw`` for ``None``."""
    if tool is None:
        return raw
    suffix = {"gzip": "gz", "bzip2": "bz2", "xz": "xz", "zstd": "zst"}[tool]
    out = raw.with_name(f"{raw.name}.{suffix}")
    argv = {"gzip": ["gzip", "-n", "-c"], "bzip2": ["bzip2", "-c"], "xz": ["xz", "-c"],
            "zstd": ["zstd", "-q", "-c"]}[tool]
    with open(raw, "rb") as src, open(out, "wb") as dst:
        subprocess.run(argv, stdin=src, stdout=dst, check=True)
    return out


_MODE_BITS = {"r": 4, "w": 2, "x": 1}


def perm_from_text(text: str) -> int:
    """Permission bits (with set-uid/gid and sticky) of an ``ls``-style mode string."""
    perm = 0
    for i, (shift, special) in enumerate(((6, 0o4000), (3, 0o2000), (0, 0o1000))):
        r, w, x = tuple(text[1 + 3 * i:4 + 3 * i])
        perm |= (4 if r == "r" else 0) << shift | (2 if w == "w" else 0) << shift
        if x in "xst":
            perm |= 1 << shift
        if x in "sStT":
            perm |= special
    return perm


@dataclass(frozen=True)
class Listed:
    """One member as ``tar -tv``/``cpio -tv`` list it."""

    name: str
    type: str  # the listing's type letter: - d l c b p s h
    perm: int
    uid: int
    gid: int
    size: int | None
    rdev: tuple[int, int] | None
    date: str  # as listed: "2023-11-14 22:13:20" (tar --full-time) or "Nov 14 2023" (cpio)
    target: str | None  # symlink target or hard link source


_CPIO_LINE = re.compile(r"^(?P<mode>\S{10})\s+\d+\s+(?P<uid>\d+)\s+(?P<gid>\d+)\s+"
                        r"(?:(?P<maj>\d+),\s*(?P<min>\d+)|(?P<size>\d+))\s+"
                        r"(?P<date>\w{3}\s+\d+\s+\d{4})\s(?P<name>.*)$")
_TAR_LINE = re.compile(r"^(?P<mode>\S{10})\*?\s+(?P<uid>\d+)/(?P<gid>\d+)\s+"
                       r"(?:(?P<maj>\d+),(?P<min>\d+)|(?P<size>\d+))\s+"
                       r"(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s(?P<name>.*)$")


def _listed(m: re.Match[str], name: str, target: str | None) -> Listed:
    rdev = (int(m["maj"]), int(m["min"])) if m["maj"] is not None else None
    size = int(m["size"]) if m["size"] is not None else None
    return Listed(name, m["mode"][0], perm_from_text(m["mode"]), int(m["uid"]),
                  int(m["gid"]), size, rdev, " ".join(m["date"].split()), target)


def _parse_listing(text: str, line_re: re.Pattern[str], tool: str) -> dict[str, Listed]:
    """The members of a ``cpio -tv``/``tar -tv`` listing, by name relative to the root."""
    out: dict[str, Listed] = {}
    for line in text.splitlines():
        m = line_re.match(line)
        assert m is not None, f"unexpected {tool} -tv line: {line!r}"
        name, target = m["name"], None
        if m["mode"][0] == "l":
            name, target = name.split(" -> ", 1)
        elif m["mode"][0] == "h":  # tar only: "NAME link to TARGET"
            name, target = name.split(" link to ", 1)
            target = target.removeprefix("./")
        name = "" if name in (".", "./") else name.removeprefix("./").rstrip("/")
        out[name] = _listed(m, name, target)
    return out


def cpio_listing(archive_raw: Path) -> dict[str, Listed]:
    """``cpio -tv --numeric-uid-gid`` of an uncompressed newc archive, parsed."""
    text = subprocess.run(["cpio", "-tv", "--quiet", "--numeric-uid-gid", "-F", archive_raw],
                          capture_output=True, text=True, check=True, env=SCRIPT_ENV).stdout
    return _parse_listing(text, _CPIO_LINE, "cpio")


def tar_listing(archive: Path) -> dict[str, Listed]:
    """``tar -tv --numeric-owner --full-time`` of a (possibly compressed) tar, parsed."""
    text = subprocess.run(["tar", "-tv", "--numeric-owner", "--full-time", "-f", archive],
                          capture_output=True, text=True, check=True, env=SCRIPT_ENV).stdout
    return _parse_listing(text, _TAR_LINE, "tar")


def tar_xattr_names(archive: Path) -> dict[str, set[str]]:
    """Extended attribute names per member, as ``tar --xattrs -tvv`` lists them."""
    text = subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-tvv", "-f", archive],
                          capture_output=True, text=True, check=True, env=SCRIPT_ENV).stdout
    names: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        m = re.match(r"^\s+x:\s+\d+\s+(\S+)$", line)
        if m is None:
            current = line.split(" ", 5)[-1].split()[-1].removeprefix("./").rstrip("/")
            continue
        names.setdefault(current, set()).add(m.group(1))
    return names


@dataclass(frozen=True)
class Inode:
    """What ``debugfs stat`` (and ``ea_get -x``) say about one path of an ext4 image."""

    ino: int
    type: str  # regular, directory, symlink, character special, block special, FIFO
    perm: int
    uid: int
    gid: int
    size: int
    links: int
    mtime: int
    ctime: int
    rdev: tuple[int, int] | None
    target: str | None
    xattrs: dict[str, bytes]


_STAT_TYPE = re.compile(r"Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)")


def _split_debugfs(out: str) -> list[str]:
    """The outputs of a ``debugfs -f`` script, one per command (split at its echo lines)."""
    parts = re.split(r"^debugfs: .*$", out, flags=re.M)
    return parts[1:]


def _ea_names(text: str) -> list[str]:
    """Attribute names in ``debugfs ea_list`` output (which shows printable values as
    text and others as hex: the values are read again with ``ea_get -x``)."""
    return re.findall(r"^\s*(\S+) \(\d+\)", text, flags=re.M)


def _ea_values(image: Path, wanted: list[tuple[str, str]], tmp: Path) -> list[bytes]:
    script = tmp / "ea.debugfs"
    script.write_text("".join(f'ea_get -x "/{rel}" {name}\n' for rel, name in wanted))
    out = subprocess.run(["debugfs", "-f", script, image], capture_output=True, text=True,
                         check=True, env=TOOL_ENV).stdout
    values = []
    for part, (_rel, name) in zip(_split_debugfs(out), wanted, strict=True):
        m = re.search(rf"^{re.escape(name)} \((\d+)\)(?: = ((?:[0-9a-f]{{2}} ?)*))?\s*$",
                      part, flags=re.M)
        assert m is not None, part
        values.append(bytes.fromhex(m.group(2) or ""))
    return values


def inventory(image: Path, paths: list[str], tmp: Path) -> dict[str, Inode]:
    """``debugfs stat`` and the extended attributes of every path in ``paths`` (relative to
    the root; "" is the root), read with one debugfs run."""
    script = tmp / "inventory.debugfs"
    lines = []
    for rel in paths:
        lines += [f'stat "/{rel}"', f'ea_list "/{rel}"']
    script.write_text("\n".join(lines) + "\n")
    env = {**TOOL_ENV, "DEBUGFS_PAGER": "__none__", "PAGER": "__none__"}
    out = subprocess.run(["debugfs", "-f", script, image], capture_output=True, text=True,
                         check=True, env=env).stdout
    parts = _split_debugfs(out)
    assert len(parts) == 2 * len(paths), out[-2000:]
    result: dict[str, Inode] = {}
    for rel, stat_text, ea_text in zip(paths, parts[0::2], parts[1::2], strict=True):
        m = _STAT_TYPE.search(stat_text)
        assert m is not None, f"/{rel} not in the image: {stat_text.strip()}"
        owner = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", stat_text)
        size = re.search(r"Size: (\d+)", stat_text)
        links = re.search(r"Links: (\d+)", stat_text)
        mtime = re.search(r"mtime: 0x([0-9a-f]+)", stat_text)
        ctime = re.search(r"ctime: 0x([0-9a-f]+)", stat_text)
        assert owner and size and links and mtime and ctime, stat_text
        dev = re.search(r"Device major/minor number: (\d+):(\d+)", stat_text)
        link = re.search(r'Fast link dest: "(.*)"', stat_text)
        result[rel] = Inode(
            int(m.group(1)), m.group(2), int(m.group(3), 8), int(owner.group(1)),
            int(owner.group(2)), int(size.group(1)), int(links.group(1)),
            int(mtime.group(1), 16), int(ctime.group(1), 16),
            (int(dev.group(1)), int(dev.group(2))) if dev else None,
            link.group(1) if link else None,
            {name: b"" for name in _ea_names(ea_text)})
    wanted = [(rel, name) for rel, inode in result.items() for name in inode.xattrs]
    if wanted:
        for (rel, name), value in zip(wanted, _ea_values(image, wanted, tmp), strict=True):
            result[rel].xattrs[name] = value
    for rel, inode in result.items():
        if inode.type == "symlink" and inode.target is None:  # a slow symlink: read its block
            target = run("debugfs", "-R", f'cat "/{rel}"', image).stdout
            result[rel] = dataclasses.replace(inode, target=target)
    return result


LISTED_TYPES = {"-": "regular", "h": "regular", "d": "directory", "l": "symlink",
                "c": "character special", "b": "block special", "p": "FIFO"}


def minimal_config(d: Path, rootfs: str) -> Path:
    """Boot files and a config with only a dom0 whose rootfs is ``rootfs`` (under ``d``)."""
    (d / "Image").write_bytes(b"\1" * 4096)
    (d / "xen").write_bytes(b"\2" * 4096)
    write_dts(d, "virt", '/dts-v1/;\n/ { compatible = "linux,dummy-virt"; chosen { }; };\n')
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + bytes(76))
    cfg = d / "config"
    cfg.write_text("MEMORY_START=0x40000000\nMEMORY_END=0x80000000\n"
                   'LOAD_CMD="load virtio 0:1"\nDEVICE_TREE=virt.dtb\nXEN=xen\n'
                   f"DOM0_KERNEL=Image\nDOM0_ROOTFS={rootfs}\nNUM_DOMUS=0\n"
                   "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    return cfg


#: A dom0-only ImageBuilder config over a 1 GiB virt board (``write_small_inputs``).
SMALL_CONFIG = """\
MEMORY_START=0x40000000
MEMORY_END=0x80000000
DEVICE_TREE=virt.dtb
XEN=xen
DOM0_KERNEL=Image
NUM_DOMUS=0
LOAD_CMD=tftpb
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""


def write_small_inputs(d: Path, *, image: bytes, xen: bytes) -> None:
    """:data:`SMALL_CONFIG` as ``d/config``, its board DTB (1 GiB at 0x40000000), and the
    given ``Image`` and ``xen`` bytes."""
    write_dts(d, "virt", "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n"
              "memory@40000000 { device_type = \"memory\"; reg = <0 0x40000000 0 0x40000000>; };"
              "\nchosen { }; };\n")
    (d / "Image").write_bytes(image)
    (d / "xen").write_bytes(xen)
    (d / "config").write_text(SMALL_CONFIG)
