"""The plugin as a user's project meets it: registered by the entry point (once), disabled by
``-p no:bootproof``, its options grouped under "bootproof", the marker, board selection and
pytest-timeout scaled by the multiplier. Each case runs pytest on a small generated project
(no QEMU)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bootproof.harness.pytest_plugin as plugin_module
from bootproof.harness.core.boards import CONFIGS_DIR


def _pytest(tmp_path: Path, source: str, *args: str,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "test_inner.py").write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items()
           if k not in ("BOOTPROOF_TIMEOUT_MULTIPLIER", "PYTEST_ADDOPTS", "PYTEST_TIMEOUT",
                        "BOOTPROOF_CACHE")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir",
         str(project), "--basetemp", str(tmp_path / "inner-tmp"), *args, str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_our_session_has_the_plugin_once_under_its_entry_point_name(
        pytestconfig: pytest.Config) -> None:
    names = [name for name, plugin in pytestconfig.pluginmanager.list_name_plugin()
             if plugin is plugin_module]
    assert names == ["bootproof"]


REGISTRATION = """
import bootproof.harness.pytest_plugin as module

def test_registered_once(pytestconfig):
    names = [n for n, p in pytestconfig.pluginmanager.list_name_plugin() if p is module]
    assert names == ["bootproof"]
"""


def test_a_project_gets_the_plugin_from_the_entry_point(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, REGISTRATION, "--fixtures")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("xous_boot", "xen_boot", "bootproof_assets", "boot_log_dir",
                 "qemu_machine_factory"):
        assert f"\n{name}" in proc.stdout, name
    proc = _pytest(tmp_path, REGISTRATION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_no_bootproof_disables_it(tmp_path: Path) -> None:
    source = "def test_uses_it(xous_boot):\n    pass\n"
    proc = _pytest(tmp_path, source, "-p", "no:bootproof")
    assert proc.returncode == 1
    assert "fixture 'xous_boot' not found" in proc.stdout
    proc = _pytest(tmp_path, source, "-p", "no:bootproof", "--timeout-multiplier", "2")
    assert proc.returncode == 4
    assert "unrecognized arguments: --timeout-multiplier" in proc.stderr


def test_options_are_grouped_under_bootproof(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "def test_x():\n    pass\n", "--help")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("bootproof: boot images under QEMU:")
    group = []
    for line in lines[start + 1:]:
        if not line.strip() or not line.startswith(" "):
            break
        group.append(line.strip())
    options = [line.split()[0].split("=")[0] for line in group if line.startswith("--")]
    assert options == ["--timeout-multiplier", "--bootproof-cache", "--bootproof-board",
                       "--bootproof-update-golden"]


def test_cache_option_sets_the_cache_for_the_session(tmp_path: Path) -> None:
    source = f"""
    import os
    from bootproof.harness.xen.assets import cache_root
    def test_cache():
        assert cache_root() == __import__("pathlib").Path({str(tmp_path / "c")!r})
        assert os.environ["BOOTPROOF_CACHE"] == {str(tmp_path / "c")!r}
    """
    proc = _pytest(tmp_path, source, "--bootproof-cache", str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


BOARD_SOURCE = """
import os
import pytest
from bootproof.harness.boot_fixtures import choose_board

@pytest.mark.bootproof(board="riscv32-virt")
def test_pinned_riscv():
    pass

@pytest.mark.bootproof(board=os.environ["MY_BOARD"])
def test_pinned_mine(request):
    assert choose_board(request.node, None, "aarch64-virt").name == "my-rv32"

@pytest.mark.bootproof(board="aarch64-virt")
def test_pinned_aarch64(request):
    assert choose_board(request.node, None, "riscv32-virt").name == "aarch64-virt"

def test_unpinned(request):
    # the flow's default board is replaced by the given board with the same QEMU binary
    board = choose_board(request.node, None, "riscv32-virt")
    assert board.path.name == "my-rv32.toml", board.path
    assert choose_board(request.node, None, "aarch64-virt").name == "aarch64-virt"
    assert choose_board(request.node, "aarch64-virt", "riscv32-virt").name == "aarch64-virt"
"""


def test_board_option_replaces_defaults_and_deselects_other_pinned_tests(
        tmp_path: Path) -> None:
    mine = tmp_path / "my-rv32.toml"
    mine.write_text((CONFIGS_DIR / "riscv32-virt.toml").read_text())
    proc = _pytest(tmp_path, BOARD_SOURCE, "--bootproof-board", str(mine),
                   "--bootproof-board", "aarch64-virt", "-rA",
                   env_extra={"MY_BOARD": str(mine)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "3 passed, 1 deselected" in out
    for name in ("test_pinned_mine", "test_pinned_aarch64", "test_unpinned"):
        assert f"PASSED test_inner.py::{name}" in out
    # without the option every test runs, each on its own board
    proc = _pytest(tmp_path, BOARD_SOURCE.replace('"my-rv32.toml"', '"riscv32-virt.toml"'),
                   env_extra={"MY_BOARD": str(mine)})
    assert "4 passed" in proc.stdout, proc.stdout


def test_two_boards_for_one_qemu_binary_is_a_usage_error(tmp_path: Path) -> None:
    mine = tmp_path / "my-rv32.toml"
    mine.write_text((CONFIGS_DIR / "riscv32-virt.toml").read_text())
    proc = _pytest(tmp_path, "def test_x():\n    pass\n", "--bootproof-board", str(mine),
                   "--bootproof-board", "riscv32-virt")
    assert proc.returncode == 4
    assert ("--bootproof-board: riscv32-virt and my-rv32 both run qemu-system-riscv32"
            in proc.stderr), proc.stderr


def test_unknown_board_is_a_usage_error(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "def test_x():\n    pass\n", "--bootproof-board", "no-such")
    assert proc.returncode == 4
    assert "--bootproof-board:" in proc.stderr and "no-such.toml" in proc.stderr


def test_marker_with_unknown_argument_is_a_usage_error(tmp_path: Path) -> None:
    source = """
    import pytest
    @pytest.mark.bootproof(timeout=5, boards="x")
    def test_x(xous_boot):
        xous_boot("missing.bin")
    """
    proc = _pytest(tmp_path, source)
    assert proc.returncode != 0
    assert "takes only timeout= and board= (got boards)" in proc.stdout + proc.stderr


SLOW = """
import time
import pytest

def test_slow_by_ini():
    time.sleep(1.5)

@pytest.mark.timeout(1)
def test_slow_by_marker():
    time.sleep(1.5)
"""


def test_pytest_timeout_scales_with_the_multiplier(tmp_path: Path) -> None:
    # 1.5 s of work against a 1 s timeout: fails as such, passes with a multiplier of 3
    plain = _pytest(tmp_path, SLOW, "-o", "timeout=1")
    assert plain.returncode == 1
    assert "2 failed" in plain.stdout and "Timeout" in plain.stdout
    scaled = _pytest(tmp_path, SLOW, "-o", "timeout=1", "--timeout-multiplier", "3")
    assert scaled.returncode == 0, scaled.stdout
    assert "2 passed" in scaled.stdout
    by_env = _pytest(tmp_path, SLOW, "-o", "timeout=1",
                     env_extra={"BOOTPROOF_TIMEOUT_MULTIPLIER": "3"})
    assert "2 passed" in by_env.stdout, by_env.stdout


def test_bad_multiplier_variable_is_a_usage_error(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "def test_x():\n    pass\n",
                   env_extra={"BOOTPROOF_TIMEOUT_MULTIPLIER": "fast"})
    assert proc.returncode == 4
    assert "BOOTPROOF_TIMEOUT_MULTIPLIER='fast'" in proc.stderr, proc.stderr
