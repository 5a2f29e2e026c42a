"""Device-tree blobs: a thin, typed wrapper over the pure-Python ``fdt`` package.

Why ``fdt`` (PyPI "fdt") rather than pylibfdt: it is pure Python (no C build, installs
anywhere the project does), it reads and writes DTBs byte-exactly for what we touch, and it
lets us insert nodes and properties at the front of their parent, which is what U-Boot's
``fdt mknod``/``fdt set`` (libfdt) do, so offline edits give the same tree as a board.
Its property classes guess a type from the raw bytes; this wrapper only ever exchanges
*raw bytes* with it, so that guess can never change a value. Two library quirks are
handled here: ``FDT()`` shares a mutable default list for memory-reservation entries
(we parse those ourselves and give every tree its own list), and parse failures surface
as bare ``Exception``/``AssertionError`` (turned into :class:`FormatError`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fdt as _fdt
from fdt.items import new_property

from bootproof.builder.errors import FormatError

MAGIC = 0xD00DFEED


@dataclass(frozen=True)
class MemRange:
    """A ``[base, base + size)`` range read from a tree, with where it came from."""

    base: int
    size: int
    source: str

    @property
    def end(self) -> int:
        return self.base + self.size


def _raw(prop: object) -> bytes:
    if isinstance(prop, _fdt.PropStrings):
        return b"".join(s.encode() + b"\0" for s in prop.data)
    if isinstance(prop, _fdt.PropWords):
        return b"".join(struct.pack(">I", w & 0xFFFFFFFF) for w in prop.data)
    if isinstance(prop, _fdt.PropBytes):
        return bytes(prop.data)
    return b""


def _memreserve(data: bytes) -> list[dict[str, int]]:
    (off,) = struct.unpack_from(">I", data, 16)
    out = []
    while off + 16 <= len(data):
        addr, size = struct.unpack_from(">QQ", data, off)
        off += 16
        if addr == 0 and size == 0:
            break
        out.append({"address": addr, "size": size})
    return out


class DeviceTree:
    """A mutable device tree. Paths are absolute (``/chosen/domU0``); values are bytes."""

    def __init__(self, tree: _fdt.FDT) -> None:
        self._tree = tree

    # -- reading -------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, path: str | None = None) -> DeviceTree:
        """Parse a DTB. Raises :class:`FormatError` if it is not a valid blob."""
        if len(data) < 40 or struct.unpack_from(">I", data)[0] != MAGIC:
            raise FormatError("not a device tree blob (bad magic)", path=path)
        (total,) = struct.unpack_from(">I", data, 4)
        if total > len(data):
            raise FormatError("device tree blob truncated", path=path, field="totalsize",
                              value=total)
        try:
            entries = _memreserve(data)
            tree = _fdt.parse_dtb(bytes(data[:total]))
        except Exception as exc:  # the library raises bare Exception/AssertionError
            raise FormatError(f"cannot parse device tree: {exc}", path=path) from exc
        tree.entries.clear()  # the library's shared default list
        tree.entries = entries
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
        """Serialise (version 17, no padding)."""
        return bytes(self._tree.to_dtb(version=17))

    def copy(self) -> DeviceTree:
        return DeviceTree.from_bytes(self.to_bytes())

    def _node(self, path: str) -> _fdt.Node | None:
        node = self._tree.root
        for name in [p for p in path.split("/") if p]:
            node = node.get_subnode(name)
            if node is None:
                return None
        return node

    def exists(self, path: str) -> bool:
        return self._node(path) is not None

    def children(self, path: str) -> list[str]:
        node = self._node(path)
        return [] if node is None else [n.name for n in node.nodes]

    def prop_names(self, path: str) -> list[str]:
        node = self._node(path)
        return [] if node is None else [p.name for p in node.props]

    def get(self, path: str, name: str) -> bytes | None:
        """The raw value of a property, or None when the node or property is missing."""
        node = self._node(path)
        if node is None:
            return None
        prop = node.get_property(name)
        return None if prop is None else _raw(prop)

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
        """Every node path under (and including) ``path``, depth first."""
        yield path
        base = "" if path == "/" else path
        for child in self.children(path):
            yield from self.walk(f"{base}/{child}")

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

    def memory(self) -> list[MemRange]:
        """RAM from every ``/memory`` or ``/memory@...`` node (device_type "memory")."""
        out = []
        for name in self.children("/"):
            path = f"/{name}"
            if name == "memory" or name.startswith("memory@"):
                out += [MemRange(a, s, path) for a, s in self.regs(path)]
        return out

    def reserved(self) -> list[MemRange]:
        """Reserved RAM: ``/memreserve/`` entries and ``/reserved-memory`` children."""
        out = [MemRange(e["address"], e["size"], "/memreserve/") for e in self._tree.entries]
        for name in self.children("/reserved-memory"):
            path = f"/reserved-memory/{name}"
            out += [MemRange(a, s, path) for a, s in self.regs(path)]
        return out

    # -- editing -------------------------------------------------------------------------
    def add_node(self, parent: str, name: str) -> None:
        """Create ``parent/name`` as its parent's *first* subnode (libfdt's order).
        Raises :class:`FormatError` if the parent is missing or the node exists."""
        node = self._node(parent)
        if node is None:
            raise FormatError("parent node does not exist", field="node", value=parent)
        if node.get_subnode(name) is not None:
            raise FormatError("node already exists", field="node", value=f"{parent}/{name}")
        new = _fdt.Node(name)
        node.append(new)
        node.nodes.remove(new)
        node.nodes.insert(0, new)

    def set(self, path: str, name: str, value: bytes) -> None:
        """Set (create or replace) a property to raw ``value``; a new property becomes the
        node's first, as with libfdt's ``fdt_setprop``.
        Raises :class:`FormatError` if the node is missing."""
        node = self._node(path)
        if node is None:
            raise FormatError("node does not exist", field="node", value=path)
        prop = new_property(name, bytes(value))
        old = node.get_property(name)
        if old is None:  # libfdt puts a new property first in its node
            node.append(prop)
            node.props.remove(prop)
            node.props.insert(0, prop)
        else:
            prop.set_parent(node)
            node.props[node.props.index(old)] = prop


def cells_bytes(values: list[int] | tuple[int, ...]) -> bytes:
    """Big-endian 32-bit cells."""
    return b"".join(struct.pack(">I", v & 0xFFFFFFFF) for v in values)


def strings_bytes(values: list[str] | tuple[str, ...]) -> bytes:
    """A NUL-terminated string list."""
    return b"".join(v.encode() + b"\0" for v in values)


def is_dtb(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts with the DTB magic."""
    return head[:4] == MAGIC.to_bytes(4, "big")
