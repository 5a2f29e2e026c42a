"""Device-tree blobs: a thin, typed wrapper over pylibfdt (libfdt's own Python binding).

Why pylibfdt and not the pure-Python ``fdt`` package used before (0.3.3, last released
2022), as measured by ``benchmarks/fdt_libs.py`` (both in one run; QEMU virt's dumped DTB,
1 MiB with padding, 58 nodes; the 970 ``fdt`` commands uboot-script-gen writes for 64
domUs; medians of 50 runs, fdt -> pylibfdt): parse 2.26 -> 0.16 ms, parse and read every
property 2.56 -> 1.36 ms, the 64-domU edit 16.6 -> 5.2 ms, serialise 1.7 -> 0.002 ms,
``import`` 1.7 -> 1.3 ms.

* Correctness. The edits are libfdt's own, the code U-Boot's ``fdt mknod``/``fdt set``
  run, so the offline copy (FDTEDIT, FIT) is the blob a board holds: same tree *and*
  same structure and strings bytes as ``fdtput`` after the 64-domU edit (``fdt`` gives
  the same tree but another strings table). The ``fdt`` package needed two workarounds,
  both gone: ``parse_dtb`` appended ``/memreserve/`` entries to a default list shared by
  every tree, so they leaked into the next tree parsed (pylibfdt: each tree owns its
  bytes); malformed blobs raised bare ``Exception``/``IndexError`` (pylibfdt: one
  ``FdtException`` with libfdt's code, e.g. FDT_ERR_BADSTRUCTURE, found up front by
  ``fdt_check_full``). It also refused a valid blob with ``FDT_NOP`` tags ("Unknown
  Tag: 4"), which libfdt leaves where it removes things.
* Install. PyPI has pylibfdt as source only (no wheel for any platform), so ``pip``
  compiles it: a C compiler and the Python headers (``ci/setup.sh`` installs gcc and
  python3-dev); SWIG is a build requirement fetched from PyPI, not needed on the
  machine. In a fresh venv of Debian 12's Python 3.11 (pip 23.0.1) it built in 6-12 s
  wall (``fdt``: 0.6 s). Without a compiler the install fails. Debian's
  ``python3-libfdt`` (1.6.1; this wrapper works with it) does not help pip: it is
  registered as ``libfdt``, not ``pylibfdt``.
* Typing. Neither ships types (pylibfdt is SWIG output): mypy sees ``libfdt`` as Any,
  and this module is where values become typed.

libfdt addresses nodes by offsets that move when the tree is edited; lookups by path
are remembered and the entries an edit may have moved are dropped (see ``_edited``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libfdt

from bootproof.builder.errors import FormatError
from bootproof.builder.layout import AddressRange, NamedRange

MAGIC = 0xD00DFEED
_MISSING = (libfdt.NOTFOUND, libfdt.BADPATH)  # path_offset: no such node (or alias)


def _libfdt_error(exc: libfdt.FdtException) -> str:
    return str(libfdt.strerror(exc.err))


class DeviceTree:
    """A mutable device tree. Paths are absolute (``/chosen/domU0``); values are bytes.

    Every edit is libfdt's own operation, so the blob comes out as libfdt (and so U-Boot's
    ``fdt`` command) leaves it after the same edits. The tree grows its buffer as edits
    need room; :meth:`to_bytes` gives it packed (no free space).
    """

    def __init__(self, tree: libfdt.Fdt) -> None:
        self._tree = tree
        # Node offsets by path. An edit inside the node at offset o moves only what lies
        # after o, so after each edit the entries past o are dropped and the rest stay true.
        self._offsets: dict[str, int] = {}

    # -- reading -------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, path: str | None = None) -> DeviceTree:
        """Parse a DTB (the whole structure is checked, as ``fdt_check_full`` does).
        Raises :class:`FormatError` if it is not a valid blob."""
        if len(data) < 40 or struct.unpack_from(">I", data)[0] != MAGIC:
            raise FormatError("not a device tree blob (bad magic)", path=path)
        (total,) = struct.unpack_from(">I", data, 4)
        if total > len(data):
            raise FormatError("device tree blob truncated", path=path, field="totalsize",
                              value=total)
        blob = bytearray(memoryview(data)[:total])  # the binding's C calls take a bytearray
        try:
            libfdt.check_err(libfdt.fdt_check_full(blob, total))
            tree = libfdt.Fdt(blob)
            if tree.pack((libfdt.BADVERSION, libfdt.BADLAYOUT)):
                tree.resize(total)  # to libfdt's read-write form: version 17, blocks in order
                tree.pack()
        except libfdt.FdtException as exc:
            raise FormatError(f"cannot parse device tree: {_libfdt_error(exc)}",
                              path=path) from exc
        return cls(tree)

    @classmethod
    def load(cls, path: Path) -> DeviceTree:
        """Read and parse a DTB file."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise FormatError(f"cannot read: {exc.strerror}", path=path) from exc
        return cls.from_bytes(data, path=str(path))

    def to_bytes(self) -> bytes:
        """Serialise: the blob packed (no free space), version 17."""
        self._tree.pack()
        return bytes(self._tree.as_bytearray())

    def copy(self) -> DeviceTree:
        return DeviceTree(libfdt.Fdt(self._tree.as_bytearray()))

    def _offset(self, path: str) -> int | None:
        off = self._offsets.get(path)
        if off is None:
            off = int(self._tree.path_offset(path, _MISSING))
            if off < 0:
                return None
            self._offsets[path] = off
        return off

    def exists(self, path: str) -> bool:
        return self._offset(path) is not None

    def _chain(self, first: Any, following: Any, path: str) -> Iterator[int]:
        """Offsets from libfdt's ``first``/``following`` iterator pair, from node ``path``
        (nothing when it is missing)."""
        off = self._offset(path)
        item = -1 if off is None else int(first(off, libfdt.QUIET_NOTFOUND))
        while item >= 0:
            yield item
            item = int(following(item, libfdt.QUIET_NOTFOUND))

    def children(self, path: str) -> list[str]:
        t = self._tree
        return [str(t.get_name(o)) for o in self._chain(t.first_subnode, t.next_subnode, path)]

    def prop_names(self, path: str) -> list[str]:
        t = self._tree
        return [str(t.get_property_by_offset(o).name)
                for o in self._chain(t.first_property_offset, t.next_property_offset, path)]

    def get(self, path: str, name: str) -> bytes | None:
        """The raw value of a property, or None when the node or property is missing."""
        off = self._offset(path)
        if off is None:
            return None
        prop = self._tree.getprop(off, name, libfdt.QUIET_NOTFOUND)
        return None if isinstance(prop, int) else bytes(prop)

    def cells(self, path: str, name: str) -> list[int] | None:
        raw = self.get(path, name)
        if raw is None:
            return None
        if len(raw) % 4:
            raise FormatError("property is not a list of 32-bit cells",
                              field=f"{path}:{name}", value=len(raw))
        return [int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4)]

    def strings(self, path: str, name: str) -> list[str] | None:
        raw = self.get(path, name)
        if raw is None:
            return None
        return [s.decode(errors="replace") for s in raw.split(b"\0")[:-1]]

    def walk(self, path: str = "/") -> Iterator[str]:
        """Every node path under (and including) ``path``, depth first (tree order).
        The tree must not be edited while the walk runs."""
        yield path
        off = self._offset(path)
        if off is None:
            return
        parents = ["" if path == "/" else path]  # the path of the node at each depth
        depth = 0
        while True:
            off, depth = (int(v) for v in self._tree.next_node(off, depth,
                                                               libfdt.QUIET_NOTFOUND))
            if off < 0 or depth <= 0:
                return
            del parents[depth:]
            node = f"{parents[depth - 1]}/{self._tree.get_name(off)}"
            parents.append(node)
            self._offsets[node] = off
            yield node

    def phandles(self) -> dict[int, str]:
        """Every phandle in the tree, mapped to its node path."""
        out: dict[int, str] = {}
        for p in self.walk():
            for name in ("phandle", "linux,phandle"):
                c = self.cells(p, name)
                if c:
                    out[c[0]] = p
        return out

    def address_cells(self, path: str) -> tuple[int, int]:
        """``#address-cells``/``#size-cells`` of ``path`` (defaults 2 and 1)."""
        a = self.cells(path, "#address-cells")
        s = self.cells(path, "#size-cells")
        return (a[0] if a else 2), (s[0] if s else 1)

    def regs(self, path: str) -> list[tuple[int, int]]:
        """Decode ``reg`` of ``path`` with its parent's cell sizes."""
        parent = path.rsplit("/", 1)[0] or "/"
        ac, sc = self.address_cells(parent)
        c = self.cells(path, "reg") or []
        step = ac + sc
        out = []
        for i in range(0, len(c) - step + 1, step):
            addr = 0
            for w in c[i : i + ac]:
                addr = (addr << 32) | w
            size = 0
            for w in c[i + ac : i + step]:
                size = (size << 32) | w
            out.append((addr, size))
        return out

    def memory(self) -> list[NamedRange]:
        """RAM from every ``/memory`` or ``/memory@...`` node (device_type "memory"), each
        range named by its node's path."""
        out = []
        for name in self.children("/"):
            path = f"/{name}"
            if name == "memory" or name.startswith("memory@"):
                out += [NamedRange(path, AddressRange(a, s)) for a, s in self.regs(path)]
        return out

    def reserved(self) -> list[NamedRange]:
        """Reserved RAM: ``/memreserve/`` entries and ``/reserved-memory`` children, named
        ``/memreserve/`` or by the child's path."""
        out = []
        for i in range(int(self._tree.num_mem_rsv())):
            addr, size = self._tree.get_mem_rsv(i)
            out.append(NamedRange("/memreserve/", AddressRange(int(addr), int(size))))
        for name in self.children("/reserved-memory"):
            path = f"/reserved-memory/{name}"
            out += [NamedRange(path, AddressRange(a, s)) for a, s in self.regs(path)]
        return out

    # -- editing -------------------------------------------------------------------------
    def _edited(self, off: int) -> None:
        self._offsets = {p: o for p, o in self._offsets.items() if o <= off}

    def _grow(self) -> None:
        self._tree.resize(2 * int(self._tree.totalsize()) + 1024)

    def add_node(self, parent: str, name: str) -> None:
        """Create ``parent/name`` as its parent's *first* subnode (libfdt's order).
        Raises :class:`FormatError` if the parent is missing or the node exists."""
        off = self._offset(parent)
        if off is None:
            raise FormatError("parent node does not exist", field="node", value=parent)
        path = f"{parent.rstrip('/')}/{name}"
        quiet = (libfdt.NOSPACE, libfdt.EXISTS)
        try:
            while (new := int(self._tree.add_subnode(off, name, quiet))) == -libfdt.NOSPACE:
                self._grow()
        except libfdt.FdtException as exc:
            raise FormatError(f"cannot add node: {_libfdt_error(exc)}", field="node",
                              value=path) from exc
        if new == -libfdt.EXISTS:
            raise FormatError("node already exists", field="node", value=path)
        self._edited(off)
        self._offsets[path] = new

    def set(self, path: str, name: str, value: bytes) -> None:
        """Set (create or replace) a property to raw ``value``; a new property becomes the
        node's first, as with libfdt's ``fdt_setprop``.
        Raises :class:`FormatError` if the node is missing."""
        off = self._offset(path)
        if off is None:
            raise FormatError("node does not exist", field="node", value=path)
        try:
            while self._tree.setprop(off, name, bytes(value), libfdt.QUIET_NOSPACE) \
                    == -libfdt.NOSPACE:
                self._grow()
        except libfdt.FdtException as exc:
            raise FormatError(f"cannot set property: {_libfdt_error(exc)}",
                              field=f"{path}:{name}", value=len(value)) from exc
        self._edited(off)


def cells_bytes(values: list[int] | tuple[int, ...]) -> bytes:
    """Big-endian 32-bit cells."""
    return b"".join(struct.pack(">I", v & 0xFFFFFFFF) for v in values)


def strings_bytes(values: list[str] | tuple[str, ...]) -> bytes:
    """A NUL-terminated string list."""
    return b"".join(v.encode() + b"\0" for v in values)


def is_dtb(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts with the DTB magic."""
    return head[:4] == MAGIC.to_bytes(4, "big")
