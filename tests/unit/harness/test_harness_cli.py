"""The ``bootproof`` umbrella: a command's modules load only when that command is named."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from bootproof.harness.cli import AREAS, build_parser, main

PACKAGES = ("bootproof.builder.xous", "bootproof.harness.xous", "bootproof.builder.xen",
            "bootproof.builder.disk", "bootproof.harness.xen", "bootproof.harness.demo")


def _loaded_after(argv: list[str]) -> set[str]:
    """Which of PACKAGES a fresh interpreter has imported after ``bootproof ARGV``."""
    code = (
        "import sys\n"
        "from bootproof.harness.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    modules = proc.stdout.split()
    return {p for p in PACKAGES if any(m == p or m.startswith(p + ".") for m in modules)}


@pytest.mark.parametrize(("argv", "allowed"), [
    (["--help"], set()),
    (["xous", "--help"], {"bootproof.builder.xous", "bootproof.harness.xous"}),
    (["xous", "build", "--help"], {"bootproof.builder.xous"}),
    (["xous", "inspect", "--help"], {"bootproof.builder.xous"}),
    (["xen", "--help"], {"bootproof.builder.xen", "bootproof.builder.disk",
                         "bootproof.harness.xen"}),
    (["xen", "script", "--help"], {"bootproof.builder.xen"}),
    (["xen", "disk", "--help"], {"bootproof.builder.xen", "bootproof.builder.disk"}),
])
def test_a_command_imports_only_what_it_needs(argv: list[str], allowed: set[str]) -> None:
    assert _loaded_after(argv) <= allowed


def _commands(parser: argparse.ArgumentParser, *path: str) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if not path:
                return list(action.choices)
            return _commands(action.choices[path[0]], *path[1:])
    return []


def test_the_table_names_exactly_the_commands_the_modules_register() -> None:
    full = build_parser()
    assert _commands(full) == list(AREAS)
    for name, area in AREAS.items():
        assert _commands(full, name) == [n for c in area.commands for n in c.names]
    help_text = build_parser([]).format_help()
    for name, area in AREAS.items():
        assert name in help_text and area.help in help_text


def test_unknown_command_lists_every_command_of_the_area(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["xen", "frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err
    for command in ("script", "disk", "boot", "guests", "assets"):
        assert f"'{command}'" in err


def test_unknown_area_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
