"""A tiny test initramfs: busybox, two device nodes and an ``/init`` that reports and stops.

Built entirely in Python with the newc writer of :mod:`bootproof.builder.formats.cpio`, so the
device nodes ``/dev/console`` (c 5 1) and ``/dev/null`` (c 1 3) go straight into the archive: no
root, no fakeroot, no ``mknod``. Every member has uid/gid 0 and mtime 0, and the gzip
header's mtime is 0 too, so the same busybox gives the same bytes.

``/init`` (a busybox ``sh`` script) understands these kernel command-line words:

* ``marker=NAME``: the name printed in the report line (default ``NONAME``);
* ``poweroff_after=N``: sleep N seconds after the report, then ``poweroff -f``
  (otherwise it sleeps forever; in a dom0less setup nothing else can stop the machine);
* ``shell=1``: after the report, run a busybox shell on the domain's console (started again
  when it exits) instead of sleeping, for ``--interactive`` and tests that type commands
  (with ``COLUMNS=500``, so that busybox's line editing does not wrap a long typed line).

It prints one line, in a single write, of the form::

    === TESTMARKER NAME UP cpus=2 memtotal_kb=241212 ram=40000000-4fffffff ===

``cpus`` counts ``processor`` entries in ``/proc/cpuinfo``, ``memtotal_kb`` is MemTotal from
``/proc/meminfo`` and ``ram`` lists the ``System RAM`` ranges of ``/proc/iomem`` (hex, no
``0x``, comma separated): with a direct-mapped static-memory domain these are host
addresses, which lets a test check where the domain's memory really is.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import InputError
from bootproof.builder.fileio import atomic_write
from bootproof.builder.formats.cpio import CpioEntry, Kind, write_newc

MARKER_PREFIX = "=== TESTMARKER"

# Busybox applets /init uses, installed as symlinks so the script reads like plain sh.
APPLETS = ("sh", "mount", "cat", "echo", "grep", "sed", "sleep", "poweroff", "tr", "wc",
           # for the shell=1 console: a controlling terminal (Ctrl-C), and a few commands
           "setsid", "cttyhack", "ls", "rm", "touch", "uname")

INIT_SCRIPT = """#!/bin/sh
# bootproof test init: report once, then sleep, power off or run a shell
# (see harness/xen/initramfs.py).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
marker=NONAME
poweroff_after=
shell=
for word in $(cat /proc/cmdline); do
    case "$word" in
        marker=*) marker="${word#marker=}" ;;
        poweroff_after=*) poweroff_after="${word#poweroff_after=}" ;;
        shell=*) shell="${word#shell=}" ;;
    esac
done
cpus=$(grep -c '^processor' /proc/cpuinfo)
mem=$(grep '^MemTotal:' /proc/meminfo | tr -s ' ' | sed 's/^MemTotal: \\([0-9]*\\).*/\\1/')
ram=$(grep ' : System RAM$' /proc/iomem | sed 's/^ *\\([0-9a-f-]*\\) .*/\\1/' | tr '\\n' ',')
ram=${ram%,}
line="=== TESTMARKER $marker UP cpus=$cpus memtotal_kb=$mem ram=$ram ==="
echo "$line"
if [ -n "$poweroff_after" ]; then
    sleep "$poweroff_after"
    poweroff -f
fi
if [ -n "$shell" ]; then
    # a wide line for busybox's line editing: typed commands come back unwrapped
    export COLUMNS=500
    while true; do setsid cttyhack sh; done
fi
while true; do sleep 3600; done
"""

MARKER_RE = re.compile(
    r"=== TESTMARKER (?P<name>\S+) UP cpus=(?P<cpus>\d+) memtotal_kb=(?P<mem>\d+)"
    r" ram=(?P<ram>[0-9a-f,-]*) ==="
)


@dataclass(frozen=True)
class MarkerReport:
    """What one guest's ``/init`` reported."""

    name: str
    cpus: int
    memtotal_kb: int
    ram: tuple[tuple[int, int], ...]  # inclusive (start, end) System RAM ranges

    @property
    def ram_bytes(self) -> int:
        return sum(end - start + 1 for start, end in self.ram)


def parse_marker(text: str) -> MarkerReport | None:
    """Parse the first report line found in ``text``; ``None`` if there is none."""
    m = MARKER_RE.search(text)
    if m is None:
        return None
    ranges: list[tuple[int, int]] = []
    for part in m.group("ram").split(","):
        if part:
            lo, _, hi = part.partition("-")
            ranges.append((int(lo, 16), int(hi, 16)))
    return MarkerReport(name=m.group("name"), cpus=int(m.group("cpus")),
                        memtotal_kb=int(m.group("mem")), ram=tuple(ranges))


def marker_pattern(name: str) -> str:
    """A regex matching the report line of the guest called ``name``, up to the newline."""
    return rf"=== TESTMARKER {re.escape(name)} UP [^\n]*==="


def initramfs_entries(busybox: bytes, init_script: str = INIT_SCRIPT) -> list[CpioEntry]:
    """The archive members, in a fixed order: directories, nodes, busybox, applets, /init."""
    entries = [CpioEntry(d, Kind.DIR, perm=0o755) for d in ("bin", "dev", "proc", "sys", "tmp")]
    entries += [
        CpioEntry("dev/console", Kind.CHAR, perm=0o600, rdev_major=5, rdev_minor=1),
        CpioEntry("dev/null", Kind.CHAR, perm=0o666, rdev_major=1, rdev_minor=3),
        CpioEntry("bin/busybox", Kind.FILE, perm=0o755, data=busybox),
    ]
    entries += [CpioEntry(f"bin/{a}", Kind.SYMLINK, perm=0o777, data=b"busybox")
                for a in APPLETS]
    entries.append(CpioEntry("init", Kind.FILE, perm=0o755, data=init_script.encode()))
    return entries


def build_initramfs(busybox: Path, *, init_script: str = INIT_SCRIPT) -> bytes:
    """gzip-compressed newc archive bytes; the same inputs always give the same bytes.

    Raises :class:`InputError` if ``busybox`` cannot be read or is not an ELF file.
    """
    try:
        data = busybox.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read busybox: {exc.strerror}", path=busybox) from exc
    if not data.startswith(b"\x7fELF"):
        raise InputError("busybox is not an ELF executable", path=busybox, field="magic",
                         value=data[:4])
    raw = write_newc(initramfs_entries(data, init_script))
    return gzip.compress(raw, compresslevel=9, mtime=0)


def write_initramfs(busybox: Path, dest: Path, *, init_script: str = INIT_SCRIPT) -> Path:
    """Build the initramfs and write it atomically to ``dest``; returns ``dest``."""
    atomic_write(dest, build_initramfs(busybox, init_script=init_script))
    return dest
