"""bootproof xous boot and bootproof xen boot with the paths users type.

The installed command runs from a working directory that holds none of its inputs; the
image, the map, the config, ``-d`` and the log directory are named relative to it
(``sibling``) or absolutely (:mod:`cli_paths`). One boot per case, so few cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_paths import make_tree, run_cli
from conftest import require_tool

from bootproof.harness.xen.guests import prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, config_text, scenario_config
from bootproof.harness.xous.example import build_example

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", ["sibling", "absolute"])
def test_xous_boot(tmp_path: Path, mode: str) -> None:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    t = make_tree(tmp_path, mode)
    example = build_example(t.data, count=2)
    logs = t.root / "logs"
    r = run_cli(["bootproof", "xous", "boot", t.arg(example.args_bin),
                 "--map", t.arg(example.map_json), "--log-dir", t.arg(logs),
                 "--expect", "PID 3"], t.cwd)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert (logs / "xous-boot.serial.log").stat().st_size > 0
    assert "[ok] expect" in r.stdout


def test_xen_boot_relative_config_and_directory(tmp_path: Path) -> None:
    require_tool("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")
    t = make_tree(tmp_path, "sibling")
    guests = prepare_guest_set(t.data, progress=None)
    values = scenario_config(guests, dom0_marker=None, domus=[DomUSpec("PATHDOMU", mem_mb=128)])
    (t.conf / "config").write_text(config_text(values))
    r = run_cli(["bootproof", "xen", "boot", "-c", t.arg(t.conf / "config"), "-d", t.d], t.cwd)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "ok  marker PATHDOMU" in r.stdout
    # the default log directory is under -d, not under the working directory
    assert (t.data / "bootproof-logs" / "xen-boot.serial.log").stat().st_size > 0
    assert not (t.cwd / "bootproof-logs").exists()
