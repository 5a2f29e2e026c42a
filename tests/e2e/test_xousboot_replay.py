"""``bootproof xous boot --record FILE`` / ``--replay FILE``: QEMU's record/replay of a boot.

A recorded boot of the bundled example replays to the same console output, byte for byte,
and the replay really runs from the recording (QEMU's command line says ``rr=replay`` with
that file).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness.cli import main
from bootproof.harness.xous.example import Example, build_example

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    return build_example(tmp_path_factory.mktemp("example"), count=3)


def _boot(example: Example, logs: Path, *extra: str) -> int:
    return main(["xous", "boot", str(example.args_bin), "--map", str(example.map_json),
                 "--log-dir", str(logs), *extra])


def test_a_recorded_boot_replays_to_the_same_console_output(
        example: Example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / "boot.rr"
    assert _boot(example, tmp_path / "rec", "--record", str(recording)) == 0, \
        capsys.readouterr().out
    assert recording.stat().st_size > 0
    assert not (tmp_path / "boot.rr.part").exists()
    assert _boot(example, tmp_path / "rep", "--replay", str(recording)) == 0, \
        capsys.readouterr().out
    recorded = (tmp_path / "rec" / "xous-boot.serial.log").read_text()
    replayed = (tmp_path / "rep" / "xous-boot.serial.log").read_text()
    assert "KERNEL: all 3 init programs reported" in recorded
    assert replayed == recorded
    cmdline = (tmp_path / "rep" / "xous-boot.cmdline").read_text()
    assert f"rr=replay,rrfile={recording}" in cmdline


def test_replaying_another_boots_recording_fails(
        example: Example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The replay runs from the recording: the example's recording replayed with another
    args.bin (1 init program, so the guest prints something else) makes QEMU stop with its
    replay error, and the boot fails."""
    recording = tmp_path / "boot.rr"
    assert _boot(example, tmp_path / "rec", "--record", str(recording)) == 0
    other = build_example(tmp_path / "other", count=1)
    capsys.readouterr()
    assert main(["xous", "boot", str(other.args_bin), "--map", str(other.map_json),
                 "--log-dir", str(tmp_path / "rep"), "--replay", str(recording)]) == 1
    stderr = (tmp_path / "rep" / "xous-boot.stderr.log").read_text()
    assert "Missing character write event in the replay log" in stderr
