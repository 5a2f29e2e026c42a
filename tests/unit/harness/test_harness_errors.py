"""The failure taxonomy: classes, exit codes, what the messages show, layout comparison."""

from __future__ import annotations

import pytest

from bootproof.builder.cliutil import run_main
from bootproof.builder.errors import BootproofError
from bootproof.builder.layout.model import Item, Layout, Space
from bootproof.harness.core.errors import (
    BadPattern,
    BootFailure,
    BootTimeout,
    HarnessError,
    InfrastructureError,
    LayoutMismatch,
    UnexpectedExit,
    check_layout,
    flat_model,
    layout_differences,
)


def test_hierarchy_and_exit_codes() -> None:
    for cls in (BootTimeout, BadPattern, UnexpectedExit, LayoutMismatch):
        assert issubclass(cls, BootFailure)
        assert cls.exit_code == 1
    assert issubclass(InfrastructureError, HarnessError)
    assert issubclass(HarnessError, BootproofError)
    assert InfrastructureError.exit_code == 3


def test_boot_failure_shows_log_path_and_tail() -> None:
    err = BootTimeout("timed out waiting for 'login'", log_path="/logs/qemu.serial.log",
                      log_tail="first\r\nsecond")
    text = str(err)
    lines = text.splitlines()
    assert lines[0] == "timed out waiting for 'login'"
    assert "serial log: /logs/qemu.serial.log" in text
    assert lines[-2:] == ["    | first", "    | second"]


def test_bad_pattern_attributes() -> None:
    err = BadPattern("bad", pattern_name="trap", matched_line="TRAP mcause=2")
    assert (err.pattern_name, err.matched_line) == ("trap", "TRAP mcause=2")
    assert UnexpectedExit("x", exitcode=3).exitcode == 3


def test_infrastructure_error_names_program_package_and_output() -> None:
    err = InfrastructureError("program not found on PATH", program="mkimage",
                              package="u-boot-tools", argv=["mkimage", "-l", "x"],
                              output="a\nb\n", returncode=1)
    text = str(err)
    assert text.startswith("mkimage: program not found on PATH (install the apt package "
                           "u-boot-tools)")
    assert "command line: mkimage -l x" in text
    assert "exit status: 1" in text
    assert text.endswith("    | a\n    | b")


def test_run_main_maps_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    def infra(argv: object) -> int:
        raise InfrastructureError("broken", program="qemu-system-aarch64")

    def timeout(argv: object) -> int:
        raise BootTimeout("too slow")

    assert run_main("prog", infra, []) == 3
    assert run_main("prog", timeout, []) == 1
    err = capsys.readouterr().err
    assert "prog: error: qemu-system-aarch64: broken" in err
    assert "prog: error: too slow" in err


def test_layout_differences_hand_computed() -> None:
    expected = flat_model({"kernel.text": 0x80100000, "init.count": 2, "ram": "SrEx"})
    actual = flat_model({"kernel.text": 0x80101000, "init.count": 2, "extra": 1})
    assert layout_differences(expected, actual) == [
        "kernel.text: expected 0x80100000 (2148532224), guest reported 0x80101000 (2148536320)",
        "ram: expected 'SrEx', guest did not report it",
        "extra: guest reported 0x1 (1), not in the layout report",
    ]
    assert layout_differences(expected, expected) == []


def test_layout_differences_of_placed_items_name_each_field() -> None:
    def ram(*items: Item) -> Layout:
        return Layout("xen", (Space("ram", "byte", 0x40000000, 0x1000000, items),))

    expected = ram(Item("module", "dom0-kernel", 0x40400000, 0x1000, 0x200000,
                        attrs={"dt_node": "/chosen/dom0@40400000"}),
                   Item("module", "xen", 0x40600000, 0x100))
    reported = ram(Item("module", "dom0-kernel", 0x40600000, 0x1000, None,
                        attrs={"dt_node": "/chosen/dom0@40600000"}),
                   Item("ramdisk", "initrd", 0x40800000, 0x20))
    assert layout_differences(expected, reported) == [
        "ram dom0-kernel: start: expected 0x40400000 (1077936128), guest reported "
        "0x40600000 (1080033280)",  # the align the guest left unknown is not compared
        "ram dom0-kernel: dt_node: expected '/chosen/dom0@40400000', guest reported "
        "'/chosen/dom0@40600000'",
        "ram xen: expected module at 0x40600000 (1080033280), size 0x100 (256), guest did "
        "not report it",
        "ram initrd: guest reported ramdisk at 0x40800000 (1082130432), size 0x20 (32), "
        "not in the layout report"]
    # a space the guest does not report on is not compared
    assert layout_differences(expected, Layout("xen", ())) == []


def test_check_layout_raises_with_every_difference() -> None:
    check_layout({"a": 1}, {"a": 1})
    with pytest.raises(LayoutMismatch) as info:
        check_layout({"a": 1, "b": 2}, {"a": 3, "b": 2}, log_path="/l", log_tail="x")
    err = info.value
    assert err.differences == ["a: expected 0x1 (1), guest reported 0x3 (3)"]
    assert "- a: expected" in str(err) and "serial log: /l" in str(err)


def test_serial_tail_with_xen_line_endings_has_no_blank_lines() -> None:
    # Xen's console ends lines with \r\r\n, U-Boot's with \r\n; a lone \r is not a line
    err = BadPattern("Xen panic", pattern_name="xen-panic", matched_line="Panic on CPU 0:",
                     log_path="/logs/xen.serial.log",
                     log_tail="(XEN) Xen version 4.17\r\r\n(XEN) Panic on CPU 0:\r\r\n"
                              "\r\r\n=> \r\nmixed\rline\n")
    lines = str(err).splitlines()
    start = lines.index("  last lines of the serial log:")
    assert lines[start + 1:] == ["    | (XEN) Xen version 4.17", "    | (XEN) Panic on CPU 0:",
                                 "    | ", "    | => ", "    | mixedline"]


def test_tool_output_with_carriage_returns_has_no_blank_lines() -> None:
    err = InfrastructureError("QEMU died", program="qemu-system-aarch64",
                              output="qemu: warning\r\r\nqemu: fatal\r\n")
    assert str(err).splitlines()[-2:] == ["    | qemu: warning", "    | qemu: fatal"]


def test_layout_differences_show_a_negative_value_with_its_sign_before_0x() -> None:
    # a guest that reports a signed figure (a delta): the sign leads, as in builder errors
    assert layout_differences(flat_model({"delta": 16}), flat_model({"delta": -16})) == [
        "delta: expected 0x10 (16), guest reported -0x10 (-16)"]
