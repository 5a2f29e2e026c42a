"""Board files: loading, argv, and precise errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_testlib import TEST_BOARD

from bootproof.builder.errors import ConfigError
from bootproof.harness.core.boards import CONFIGS_DIR, Board, load_board

GOOD = """
[board]
description = "test board"

[qemu]
binary = "qemu-system-riscv32"
machine = "virt"
cpu = "rv32"
smp = 2
memory = "256M"
args = ["-bios", "none", "-device", "loader,file=x.bin,addr=0x80000000"]

[console]
kind = "serial-stdio"

[memory_map]
ram = { start = 0x80000000, size = 0x10000000 }
"""


def _write(tmp_path: Path, text: str, name: str = "b.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_load_and_argv_order(tmp_path: Path) -> None:
    board = load_board(_write(tmp_path, GOOD))
    assert board.name == "b"
    assert board.description == "test board"
    assert board.argv(extra=["-kernel", "k.elf"]) == [
        "qemu-system-riscv32", "-machine", "virt", "-cpu", "rv32", "-smp", "2", "-m", "256M",
        "-bios", "none", "-device", "loader,file=x.bin,addr=0x80000000", "-kernel", "k.elf",
    ]
    ram = board.region("ram")
    assert (ram.start, ram.size, ram.end) == (0x80000000, 0x10000000, 0x90000000)


def test_board_is_frozen(tmp_path: Path) -> None:
    board = load_board(_write(tmp_path, GOOD))
    with pytest.raises(AttributeError):
        board.machine = "other"  # type: ignore[misc]


def test_minimal_board_and_integer_memory(tmp_path: Path) -> None:
    board = load_board(_write(tmp_path, '[qemu]\nbinary = "q"\nmachine = "m"\nmemory = 64\n'))
    assert board.argv() == ["q", "-machine", "m", "-m", "64"]
    assert board.console_kind == "serial-stdio"
    assert board == Board(name="b", path=tmp_path / "b.toml", binary="q", machine="m",
                          memory="64")


def test_lookup_by_name_in_configs_dir(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "myboard.toml")
    assert load_board("myboard", configs_dir=tmp_path).machine == "virt"


def test_missing_board_lists_known(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "one.toml")
    with pytest.raises(ConfigError) as info:
        load_board("two", configs_dir=tmp_path)
    assert "two.toml" in str(info.value) and "known boards: one" in str(info.value)


def test_project_boards_dir_is_qemu_configs() -> None:
    assert CONFIGS_DIR.name == "qemu_configs"
    assert (CONFIGS_DIR / "README.md").is_file()


def test_every_project_board_loads() -> None:
    for path in sorted(CONFIGS_DIR.glob("*.toml")):
        board = load_board(path)
        assert board.argv()[0].startswith("qemu-system-")


def test_harness_test_board() -> None:
    board = load_board(TEST_BOARD)
    assert board.argv() == ["qemu-system-riscv32", "-machine", "virt", "-smp", "1", "-m",
                            "128M", "-bios", "none"]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[qemu]\nmachine = "virt"\n', "qemu.binary", "missing required field"),
        ('[qemu]\nbinary = "q"\n', "qemu.machine", "missing required field"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\nsmp = 0\n', "qemu.smp=0", "at least 1"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\nsmp = true\n', "qemu.smp=True",
         "must be an integer"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\nmemory = "2 GB"\n', "qemu.memory='2 GB'",
         "size like"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\nargs = ["-serial", "stdio"]\n',
         "qemu.args[0]='-serial'", "harness sets this option"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\nargs = [1]\n', "qemu.args[0]=1",
         "must be a string"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\nmachin = "x"\n', "qemu.machin", "unknown key"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\n[console]\nkind = "vnc"\n',
         "console.kind='vnc'", "unknown console kind"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\n[memory_map]\nram = { start = 1 }\n',
         "memory_map.ram", "needs both start and size"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\n[memory_map]\nram = { start = -1, size = 1 }\n',
         "memory_map.ram.start=", "non-negative"),
        ('[board]\ndescription = "x"\n', "qemu", "missing required table"),
        ('[qemu]\nbinary = "q"\nmachine = "m"\n[extra]\n', "extra", "unknown key"),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, text: str, field: str,
                                           words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_board(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {field}"), msg
    assert words in msg


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '[qemu]\nbinary = "q"\nmachine = \n')
    with pytest.raises(ConfigError) as info:
        load_board(path)
    assert str(info.value).startswith(f"{path}: not valid TOML")
    assert "line 3" in str(info.value)


def test_unknown_region(tmp_path: Path) -> None:
    board = load_board(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="known: ram"):
        board.region("flash")


def test_input_file_untouched(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    before = path.read_bytes()
    load_board(path)
    assert path.read_bytes() == before
