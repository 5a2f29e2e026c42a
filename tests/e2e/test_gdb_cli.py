"""``--gdb=0`` on ``bootproof xous boot`` and ``bootproof xen boot``: QEMU waits at reset with
its gdbstub; the printed ``gdb-multiarch`` command attaches (in batch mode here), reads the
PC at reset (Xous: runs the loader to its hand-off to the kernel) and detaches; the boot then
passes every stage."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from procread import read_line

from bootproof.harness.core.deadline import timeout_multiplier
from bootproof.harness.xen.guests import prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario
from bootproof.harness.xous.example import build_example

pytestmark = pytest.mark.e2e

BOOTPROOF = str(Path(sys.executable).with_name("bootproof"))
#: QEMU's riscv32 virt board starts every hart in its boot ROM (hw/riscv/virt.c: the reset
#: vector at the start of the MROM, 0x1000), which then jumps to the -kernel entry.
RISCV_VIRT_RESET_PC = 0x1000
#: QEMU's arm virt board with -bios: the firmware is in flash at address 0, where the CPU
#: starts (hw/arm/virt.c).
ARM_VIRT_RESET_PC = 0x0


def _symbol(elf: Path, name: str) -> int:
    with elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        found = symtab.get_symbol_by_name(name)
        assert found, name
        return int(found[0]["st_value"])



def _rest(proc: subprocess.Popen[bytes], seconds: float) -> str:
    out, _ = proc.communicate(timeout=seconds)
    return out.decode(errors="replace")


def test_gdb_reads_the_reset_pc_and_runs_to_the_kernel_hand_off(tmp_path: Path) -> None:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32", "gdb-multiarch")
    example = build_example(tmp_path / "ex", count=2)
    logs = tmp_path / "logs"
    proc = subprocess.Popen([BOOTPROOF, "xous", "boot", str(example.args_bin), "--gdb=0",
                             "--log-dir", str(logs)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        line = read_line(proc, r"^  gdb-multiarch ", 60 * timeout_multiplier())
        # paused at reset: the guest has printed nothing
        assert (logs / "xous-boot.serial.log").read_text() == ""
        argv = shlex.split(line)
        loader = Path(argv[2])
        kernel = next(Path(a.split(" ", 1)[1]) for a in argv if a.startswith("add-symbol-file"))
        assert kernel == example.kernel  # the image carries bootproof's test kernel
        gdb = subprocess.run(
            [*argv, "-batch", "-ex", "printf \"reset pc 0x%x\\n\", $pc",
             "-ex", "break start_kernel", "-ex", "continue",
             "-ex", "printf \"stopped pc 0x%x\\n\", $pc", "-ex", "detach"],
            capture_output=True, text=True, timeout=120 * timeout_multiplier(), check=False)
        assert gdb.returncode == 0, gdb.stdout + gdb.stderr
        assert f"reset pc 0x{RISCV_VIRT_RESET_PC:x}" in gdb.stdout
        assert f"stopped pc 0x{_symbol(loader, 'start_kernel'):x}" in gdb.stdout
        out = _rest(proc, 120 * timeout_multiplier())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    stages = re.findall(r"\[ok\] (\S+)", out)
    assert stages[0] == "loader" and stages[-1] == "power-off"
    assert stages.count("init") == 2


def test_gdb_attaches_to_a_xen_boot_at_reset(tmp_path: Path) -> None:
    require_tool("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get", "gdb-multiarch")
    guests = prepare_guest_set(tmp_path / "guests", progress=None)
    cfg = write_scenario(guests, "gdb", scenario_config(
        guests, dom0_marker=None, domus=[DomUSpec("GDBDOMU", mem_mb=128)]))
    proc = subprocess.Popen([BOOTPROOF, "xen", "boot", "-c", str(cfg), "-d",
                             str(guests.directory), "--gdb=0", "--log-dir", str(tmp_path / "l")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        argv = shlex.split(read_line(proc, r"^  gdb-multiarch ", 60 * timeout_multiplier()))
        assert "set architecture aarch64" in argv  # Debian's Xen has no xen-syms
        gdb = subprocess.run([*argv, "-batch", "-ex", "printf \"reset pc 0x%x\\n\", $pc",
                              "-ex", "detach"], capture_output=True, text=True,
                             timeout=120 * timeout_multiplier(), check=False)
        assert gdb.returncode == 0, gdb.stdout + gdb.stderr
        assert f"reset pc 0x{ARM_VIRT_RESET_PC:x}" in gdb.stdout
        out = _rest(proc, 300 * timeout_multiplier())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "ok  marker GDBDOMU" in out and "ok  layout matches report" in out
