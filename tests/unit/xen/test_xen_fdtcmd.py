"""The fdt-command interpreter: U-Boot's parsing rules and libfdt's node order."""

from __future__ import annotations

from pathlib import Path

import pytest
from xen_testlib import DATA, dtc_compile

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.xen.fdtcmd import (
    Cells,
    Empty,
    Mknod,
    SetProp,
    Strings,
    apply,
    parse_line,
    parse_script,
    render,
)


def test_parse_u_boot_syntax() -> None:
    assert parse_line(r"fdt set /chosen \#address-cells <0x2>") == SetProp(
        "/chosen", "#address-cells", Cells((2,)))
    # Cells use C base detection: 0x hex, leading 0 octal, else decimal.
    assert parse_line("fdt set /a p <0x10 010 10 >").value == Cells((16, 8, 10))  # type: ignore[union-attr]
    assert parse_line('fdt set /a c  "x,y" "z"').value == Strings(("x,y", "z"))  # type: ignore[union-attr]
    assert parse_line('fdt set /a s "a \\"q\\" \\$b"').value == Strings(('a "q" $b',))  # type: ignore[union-attr]
    assert parse_line("fdt set /a flag").value == Empty()  # type: ignore[union-attr]
    assert parse_line("fdt mknod /chosen domU0") == Mknod("/chosen", "domU0")
    assert parse_line("booti 0x1 - 0x2") is None


def test_render_parse_round_trip() -> None:
    edits: list[Mknod | SetProp] = [
        Mknod("/chosen", "domU0"),
        SetProp("/chosen/domU0", "#size-cells", Cells((2,))),
        SetProp("/chosen/domU0", "memory", Cells((0, 262144), "d")),
        SetProp("/chosen/domU0", "compatible", Strings(("a", "b"))),
        SetProp("/chosen/domU0", "bootargs", Strings(('console=x "y" $z \\w',))),
        SetProp("/chosen/domU0", "vpl011", Empty()),
    ]
    text = "\n".join(render(e) for e in edits)
    assert parse_script(text) == [
        e if not isinstance(e, SetProp) or not isinstance(e.value, Cells)
        else SetProp(e.path, e.name, Cells(e.value.values)) for e in edits
    ]


def test_mknod_prepends_like_libfdt(tmp_path: Path) -> None:
    tree = DeviceTree.from_bytes(
        dtc_compile(DATA / "passthrough.dts", tmp_path / "p.dtb").read_bytes())
    apply(tree, parse_script("fdt mknod / a\nfdt mknod / b\nfdt set /b x <1>\n"))
    assert tree.children("/")[:2] == ["b", "a"]
    assert tree.cells("/b", "x") == [1]


def test_errors_like_u_boot(tmp_path: Path) -> None:
    tree = DeviceTree.from_bytes(
        dtc_compile(DATA / "passthrough.dts", tmp_path / "p.dtb").read_bytes())
    with pytest.raises(FormatError, match="does not exist"):
        apply(tree, [SetProp("/nope", "x", Empty())])
    apply(tree, [Mknod("/", "n")])
    with pytest.raises(FormatError, match="already exists"):
        apply(tree, [Mknod("/", "n")])
    with pytest.raises(FormatError, match="closing"):
        parse_line("fdt set /a b <1 2")
