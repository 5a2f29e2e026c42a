"""Board descriptions: ``qemu_configs/<name>.toml`` -> :class:`Board`.

The schema is documented in ``qemu_configs/README.md``. Loading validates every field and
names the file and the field in a :class:`~bootproof.builder.errors.ConfigError`; the result is a
frozen dataclass whose :meth:`Board.argv` gives QEMU's argument list (never a shell string). The
console, QMP and display options are *not* part of a board:
:class:`bootproof.harness.core.machine.QemuMachine` adds them, because the harness owns those
channels.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootproof.builder.errors import ConfigError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.harness.core.resources import QEMU_CONFIGS, package_dir

#: Where the project's own board files live (the installed ``bootproof.qemu_configs``).
CONFIGS_DIR = package_dir(QEMU_CONFIGS)

#: Console kinds a board may ask for. "serial-stdio": the first serial port on QEMU's stdio,
#: which the harness connects to pipes it owns (see bootproof.harness.core.machine).
CONSOLE_KINDS = ("serial-stdio",)

_MEMORY_RE = re.compile(r"^[1-9][0-9]*[KMGT]?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
# Options the harness sets itself; a board that sets them would fight over the console or QMP.
_RESERVED_OPTIONS = frozenset({
    "-serial", "-monitor", "-qmp", "-qmp-pretty", "-nographic", "-display", "-daemonize",
    "-mon", "-chardev",
})


_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Board:
    """A QEMU board as described by one board file."""

    name: str
    path: Path
    binary: str
    machine: str
    cpu: str | None = None
    smp: int | None = None
    memory: str | None = None
    args: tuple[str, ...] = ()
    console_kind: str = "serial-stdio"
    description: str = ""
    memory_map: tuple[NamedRange, ...] = ()  # ``[memory_map]`` in the board file

    def argv(self, *, extra: Sequence[str] = ()) -> list[str]:
        """QEMU's argument list: binary, machine, cpu, smp, memory, the board's ``args``, then
        ``extra`` (per-boot options such as ``-kernel``/``-bios``)."""
        out = [self.binary, "-machine", self.machine]
        if self.cpu is not None:
            out += ["-cpu", self.cpu]
        if self.smp is not None:
            out += ["-smp", str(self.smp)]
        if self.memory is not None:
            out += ["-m", self.memory]
        out += list(self.args)
        out += [str(a) for a in extra]
        return out

    def region(self, name: str) -> NamedRange:
        """The memory-map range called ``name``; raises ConfigError if the board has none."""
        for r in self.memory_map:
            if r.name == name:
                return r
        known = ", ".join(r.name for r in self.memory_map) or "none"
        raise ConfigError(f"board has no memory range of that name (known: {known})",
                          path=self.path, field="memory_map", value=name)


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, path: Path,
         field: str, required: bool = False) -> Any:
    if key not in table:
        if required:
            raise ConfigError("missing required field", path=path, field=field)
        return None
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise ConfigError(f"must be {names}", path=path, field=field, value=value)
    return value


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], *, path: Path,
                section: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key (allowed: {', '.join(allowed)})", path=path,
                              field=f"{section}.{key}" if section else key)


def _table(doc: Mapping[str, Any], key: str, *, path: Path) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError("must be a table", path=path, field=key, value=value)
    return value


def _int_field(value: Any, *, path: Path, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError("must be a non-negative integer", path=path, field=field, value=value)
    return value


def parse_board(doc: Mapping[str, Any], *, path: Path, name: str) -> Board:
    """Validate a parsed board document. Raises ConfigError naming ``path`` and the field."""
    _check_keys(doc, ("board", "qemu", "console", "memory_map"), path=path, section="")
    board_t = _table(doc, "board", path=path)
    qemu_t = _table(doc, "qemu", path=path)
    console_t = _table(doc, "console", path=path)
    map_t = _table(doc, "memory_map", path=path)
    if "qemu" not in doc:
        raise ConfigError("missing required table", path=path, field="qemu")
    _check_keys(board_t, ("description",), path=path, section="board")
    _check_keys(qemu_t, ("binary", "machine", "cpu", "smp", "memory", "args"), path=path,
                section="qemu")
    _check_keys(console_t, ("kind",), path=path, section="console")

    description = _get(board_t, "description", str, path=path, field="board.description") or ""
    binary = _get(qemu_t, "binary", str, path=path, field="qemu.binary", required=True)
    if not binary or any(c.isspace() for c in binary):
        raise ConfigError("must be a program name or path without spaces", path=path,
                          field="qemu.binary", value=binary)
    machine = _get(qemu_t, "machine", str, path=path, field="qemu.machine", required=True)
    if not machine:
        raise ConfigError("must not be empty", path=path, field="qemu.machine", value=machine)
    cpu = _get(qemu_t, "cpu", str, path=path, field="qemu.cpu")
    smp = _get(qemu_t, "smp", int, path=path, field="qemu.smp")
    if smp is not None and smp < 1:
        raise ConfigError("must be at least 1", path=path, field="qemu.smp", value=smp)
    memory = _get(qemu_t, "memory", (str, int), path=path, field="qemu.memory")
    if isinstance(memory, int):
        if memory < 1:
            raise ConfigError("must be at least 1 (MiB)", path=path, field="qemu.memory",
                              value=memory)
        memory = str(memory)
    elif memory is not None and not _MEMORY_RE.match(memory):
        raise ConfigError("must be a size like 128M or 2G (or a number of MiB)", path=path,
                          field="qemu.memory", value=memory)
    raw_args = _get(qemu_t, "args", list, path=path, field="qemu.args") or []
    args: list[str] = []
    for i, arg in enumerate(raw_args):
        if not isinstance(arg, str):
            raise ConfigError("must be a string", path=path, field=f"qemu.args[{i}]", value=arg)
        if arg in _RESERVED_OPTIONS:
            raise ConfigError("the harness sets this option itself (console, QMP, display)",
                              path=path, field=f"qemu.args[{i}]", value=arg)
        args.append(arg)

    kind = _get(console_t, "kind", str, path=path, field="console.kind") or "serial-stdio"
    if kind not in CONSOLE_KINDS:
        raise ConfigError(f"unknown console kind (known: {', '.join(CONSOLE_KINDS)})",
                          path=path, field="console.kind", value=kind)

    ranges: list[NamedRange] = []
    for rname, entry in map_t.items():
        field = f"memory_map.{rname}"
        if not isinstance(entry, dict):
            raise ConfigError("must be a table {start, size}", path=path, field=field,
                              value=entry)
        _check_keys(entry, ("start", "size"), path=path, section=field)
        if "start" not in entry or "size" not in entry:
            raise ConfigError("needs both start and size", path=path, field=field)
        start = _int_field(entry["start"], path=path, field=f"{field}.start")
        size = _int_field(entry["size"], path=path, field=f"{field}.size")
        ranges.append(NamedRange(rname, AddressRange(start, size)))

    return Board(
        name=name, path=path, binary=binary, machine=machine, cpu=cpu, smp=smp, memory=memory,
        args=tuple(args), console_kind=kind, description=description,
        memory_map=tuple(ranges),
    )


def board_path(name_or_path: str | Path, *, configs_dir: Path | None = None) -> Path:
    """Where the board ``name_or_path`` lives: a path to a ``.toml`` file is used as given,
    a bare name is looked up as ``<configs_dir>/<name>.toml`` (default: qemu_configs/)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml"):
        return Path(name_or_path)
    if not _NAME_RE.match(text):
        raise ConfigError("not a valid board name", field="board", value=text)
    return (configs_dir or CONFIGS_DIR) / f"{text}.toml"


def load_board(name_or_path: str | Path, *, configs_dir: Path | None = None) -> Board:
    """Load and validate a board file (see :func:`board_path` for how it is found).

    Raises :class:`~bootproof.builder.errors.ConfigError` naming the file (and the field) when the
    file is missing, is not valid TOML, or breaks the schema.
    """
    path = board_path(name_or_path, configs_dir=configs_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        known = sorted(p.stem for p in (configs_dir or CONFIGS_DIR).glob("*.toml"))
        raise ConfigError(f"no such board file (known boards: {', '.join(known) or 'none'})",
                          path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read board file: {exc.strerror}", path=path) from exc
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("board file is not UTF-8 text", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from exc
    return parse_board(doc, path=path, name=path.stem)
