"""QEMU record/replay options (harness/core/replay.py) and their command-line checks.

The boots themselves (a recording replayed to the same console output) are in
tests/e2e/test_xousboot_replay.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bootproof.builder.errors import InputError
from bootproof.harness.cli import main
from bootproof.harness.core.replay import RecordReplay, from_options


def test_record_writes_a_part_file_and_replay_reads_the_file(tmp_path: Path) -> None:
    rec = RecordReplay("record", tmp_path / "boot.rr")
    assert rec.qemu_options() == [
        "-icount", f"shift=auto,rr=record,rrfile={tmp_path}/boot.rr.part"]
    rep = RecordReplay("replay", tmp_path / "boot.rr")
    assert rep.qemu_options() == ["-icount", f"shift=auto,rr=replay,rrfile={tmp_path}/boot.rr"]


def test_commas_in_the_path_are_doubled_for_qemu(tmp_path: Path) -> None:
    opts = RecordReplay("replay", tmp_path / "a,b.rr").qemu_options()
    assert opts[1].endswith(f"rrfile={tmp_path}/a,,b.rr")


def test_replay_of_a_missing_or_empty_file_names_the_option(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.rr"
    with pytest.raises(InputError) as err:
        RecordReplay("replay", missing).check()
    assert err.value.field == "--replay" and err.value.path == str(missing)
    empty = tmp_path / "empty.rr"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="no recording"):
        RecordReplay("replay", empty).check()


def test_record_into_a_missing_folder_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        RecordReplay("record", tmp_path / "no" / "boot.rr").check()
    assert err.value.field == "--record"


def test_a_recording_is_kept_only_when_the_boot_passed(tmp_path: Path) -> None:
    rec = RecordReplay("record", tmp_path / "boot.rr")
    with rec.session():
        rec.work_path.write_bytes(b"events")
    assert (tmp_path / "boot.rr").read_bytes() == b"events"
    assert not rec.work_path.exists()

    failed = RecordReplay("record", tmp_path / "failed.rr")
    with pytest.raises(RuntimeError), failed.session():
        failed.work_path.write_bytes(b"half")
        raise RuntimeError("boot failed")
    assert not (tmp_path / "failed.rr").exists()
    assert not failed.work_path.exists()


def test_a_failed_recording_leaves_an_earlier_one_as_it_was(tmp_path: Path) -> None:
    earlier = tmp_path / "boot.rr"
    earlier.write_bytes(b"earlier")
    rec = RecordReplay("record", earlier)
    with pytest.raises(RuntimeError), rec.session():
        rec.work_path.write_bytes(b"half")
        raise RuntimeError("boot failed")
    assert earlier.read_bytes() == b"earlier"


def test_from_options() -> None:
    assert from_options(None, None) is None
    assert from_options("a", None) == RecordReplay("record", Path("a"))
    assert from_options(None, "b") == RecordReplay("replay", Path("b"))


def test_cli_replay_of_a_missing_file_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args_bin = tmp_path / "args.bin"
    args_bin.write_bytes(b"\0" * 64)
    missing = tmp_path / "none.rr"
    code = main(["xous", "boot", str(args_bin), "--replay", str(missing),
                 "--log-dir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(missing) in err and "--replay" in err
    assert not (tmp_path / "logs").exists()


def test_cli_record_and_replay_together_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["xous", "boot", str(tmp_path / "args.bin"), "--record", "a", "--replay", "b"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_record_under_gdb_exits_2_before_qemu(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args_bin = tmp_path / "args.bin"
    args_bin.write_bytes(b"\0" * 64)
    code = main(["xous", "boot", str(args_bin), "--record", str(tmp_path / "boot.rr"),
                 "--gdb", "--log-dir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert code == 2
    assert "--record" in err and "--gdb" in err
    assert not (tmp_path / "logs").exists()
    assert list(tmp_path.iterdir()) == [args_bin]
