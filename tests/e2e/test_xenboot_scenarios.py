"""Xen dom0less under QEMU aarch64 + U-Boot, end to end, from configs through our generator.

Every scenario writes an ImageBuilder config, runs ``uboot-script-gen`` on it and boots the
result with :func:`bootproof.harness.xen.flow.run_boot`, which checks the stages in order (U-Boot
prompt, script loaded, Xen banner, one ``LOADING DOMU`` line per domU with the config's cpus
and memory), every domain's marker line (cpus and RAM seen from inside the guest), and the
addresses U-Boot and Xen report against the generator's layout report.

Guest files come from Debian arm64 packages through the asset cache (fetched once); the
scenarios that need static memory and cpupools use Xen built from Debian's source with
``qemu_configs/xen-dom0less.config``. One kernel and one initramfs serve every domain.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.errors import LayoutError
from bootproof.harness.core.console import Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BadPattern
from bootproof.harness.core.processes import pid_alive
from bootproof.harness.xen.flow import run_boot, xen_debug_key
from bootproof.harness.xen.generated import generate
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario

pytestmark = pytest.mark.e2e

TOOLS = ("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")


def _guests(tmp_path_factory: pytest.TempPathFactory, xen: str) -> GuestSet:
    require_tool(*TOOLS)
    if xen == "built":
        require_tool("aarch64-linux-gnu-gcc", "make", "dpkg-source")
    return prepare_guest_set(tmp_path_factory.mktemp(f"guests-{xen}"), xen_source=xen,
                             progress=None)


@pytest.fixture(scope="module")
def debian_guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    return _guests(tmp_path_factory, "debian")


@pytest.fixture(scope="module")
def built_guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    return _guests(tmp_path_factory, "built")


def _stage_names(report_stages: list[object]) -> list[str]:
    return [getattr(s, "name", "") for s in report_stages]


def test_dom0_and_two_domus(debian_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 1: dom0 + 2 domUs with different memory and vCPUs."""
    cfg = write_scenario(debian_guests, "s1", scenario_config(
        debian_guests, domus=[DomUSpec("DOMU1", mem_mb=256, vcpus=1),
                              DomUSpec("DOMU2", mem_mb=128, vcpus=2)]))
    report = run_boot(generate(cfg, debian_guests.directory), log_dir=tmp_path)
    names = _stage_names(list(report.stages))
    assert names[:3] == ["U-Boot prompt", "script loaded", "Xen banner"]
    assert [n for n in names if n.startswith("LOADING DOMU")] == ["LOADING DOMU d1",
                                                                  "LOADING DOMU d2"]
    assert names[-1] == "layout matches report"
    # what each guest saw from the inside (from /proc), against the config
    assert report.markers["dom0"].cpus == 1
    assert report.markers["dom0"].ram_bytes == 512 << 20  # dom0_mem=512M in XEN_CMD
    assert (report.markers["domU0"].cpus, report.markers["domU0"].ram_bytes) == (1, 256 << 20)
    assert (report.markers["domU1"].cpus, report.markers["domU1"].ram_bytes) == (2, 128 << 20)
    log = report.log_path.read_text(errors="replace")
    assert re.search(r"LOADING DOMU cpus=1 memory=40000KB", log)  # 256 MiB in hex KiB
    assert re.search(r"LOADING DOMU cpus=2 memory=20000KB", log)  # 128 MiB


def test_true_dom0less_harness_stops_qemu(debian_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 2: no dom0, 2 domUs; nothing in the guest can stop QEMU, the harness does."""
    cfg = write_scenario(debian_guests, "s2", scenario_config(
        debian_guests, dom0_marker=None,
        domus=[DomUSpec("SOLO1", mem_mb=192, vcpus=1), DomUSpec("SOLO2", mem_mb=128, vcpus=1)]))
    gen = generate(cfg, debian_guests.directory)
    assert not any(m.role.startswith("dom0") for m in gen.modules)
    report = run_boot(gen, log_dir=tmp_path)
    assert set(report.markers) == {"domU0", "domU1"}
    assert report.markers["domU0"].ram_bytes == 192 << 20
    assert report.qemu_pid is not None and not pid_alive(report.qemu_pid)
    assert report.qemu_exitcode is not None


def test_static_memory_seen_from_inside(built_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 3: DOMU_STATIC_MEM (direct-mapped): the domU finds its RAM at the host
    addresses the config gave."""
    base, size = 0x60000000, 0x10000000
    cfg = write_scenario(built_guests, "s3", scenario_config(
        built_guests, dom0_marker=None,
        domus=[DomUSpec("STATIC", mem_mb=256, vcpus=1, static_mem=((base, size),)),
               DomUSpec("DYNAMIC", mem_mb=128, vcpus=1)]))
    report = run_boot(generate(cfg, built_guests.directory), log_dir=tmp_path)
    assert report.markers["domU0"].ram == ((base, base + size - 1),)
    # the ordinary domU gets the guest RAM base of Xen's arm64 guest memory map
    assert report.markers["domU1"].ram == ((0x40000000, 0x40000000 + (128 << 20) - 1),)


def test_boot_time_cpupool(built_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 4: NUM_CPUPOOLS / DOMU_CPUPOOL: Xen's run-queue dump shows pool 1 with cpu 1,
    the null scheduler and the domU the config put there."""
    cfg = write_scenario(built_guests, "s4", scenario_config(
        built_guests, dom0_marker=None,
        domus=[DomUSpec("POOL0", mem_mb=128, vcpus=1),
               DomUSpec("POOL1", mem_mb=128, vcpus=1, cpupool=0)],
        cpupools=["cpu@1 null"]))
    gen = generate(cfg, built_guests.directory)
    domids = gen.layout.domids
    assert isinstance(domids, dict)
    dumps: list[str] = []

    def pools(console: Console, deadline: Deadline) -> str:
        dumps.append(xen_debug_key(console, "r", [r"\(XEN\) Cpupool 1:", r"\(XEN\) CPUs info:"],
                                   deadline))
        return "run queues dumped"

    run_boot(gen, log_dir=tmp_path, post_checks=[("cpupools dumped", pools)])
    text = dumps[0].replace("\r", "")
    pool1 = text[text.index("Cpupool 1:"):]
    pool0 = text[text.index("Cpupool 0:"):text.index("Cpupool 1:")]
    assert re.search(r"Cpus: 1\n", pool1)
    assert "Scheduler: null Scheduler (null)" in pool1
    assert re.search(rf"Domain: {domids[1]}\b", pool1)
    assert re.search(r"Cpus: 0\n", pool0)
    assert not re.search(rf"Domain: {domids[1]}\b", pool0)


def test_linux_only(debian_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 5: no XEN in the config: U-Boot boots Linux directly."""
    cfg = write_scenario(debian_guests, "s5",
                         scenario_config(debian_guests, linux_marker="BARE"))
    gen = generate(cfg, debian_guests.directory)
    assert gen.config.xen is None
    report = run_boot(gen, log_dir=tmp_path)
    assert "kernel started" in _stage_names(list(report.stages))
    assert report.xen_version is None
    assert report.markers["linux"].cpus == 2  # the board's -smp 2
    log = report.log_path.read_text(errors="replace")
    assert "(XEN)" not in log


def test_fit_mode(debian_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 6: ``-f``: one FIT holds the script and every image; U-Boot loads it and
    sources the script inside it."""
    cfg = write_scenario(debian_guests, "s6", scenario_config(
        debian_guests, domus=[DomUSpec("FITU", mem_mb=128, vcpus=1)]))
    gen = generate(cfg, debian_guests.directory, fit=True)
    assert gen.fit and ":boot_scr" in gen.load_line
    fit_name = gen.load_line.split(";")[0].split()[-1]
    assert (debian_guests.directory / fit_name).stat().st_size > 10 << 20
    report = run_boot(gen, log_dir=tmp_path)
    log = report.log_path.read_text(errors="replace")
    assert f"Filename '{fit_name}'" in log
    assert "Filename 'Image.gz'" not in log  # everything came out of the FIT
    assert set(report.markers) == {"dom0", "domU0"}


def test_overflowing_ram_fails_at_build_time(debian_guests: GuestSet) -> None:
    """Scenario 7a: images that do not fit between MEMORY_START and MEMORY_END."""
    cfg = write_scenario(debian_guests, "s7a", scenario_config(
        debian_guests, domus=[DomUSpec("X")] * 2, memory_end=0x42000000))
    for stale in ("boot.scr", "boot.source", "boot.map.json"):
        (debian_guests.directory / stale).unlink(missing_ok=True)
    with pytest.raises(LayoutError) as info:
        generate(cfg, debian_guests.directory)
    assert re.search(r"MEMORY_END", str(info.value))
    assert "0x42000000" in str(info.value)
    # nothing half-written: no script, no layout report
    for output in ("boot.scr", "boot.source", "boot.map.json"):
        assert not (debian_guests.directory / output).exists()


def test_truncated_kernel_fails_with_a_bad_pattern(debian_guests: GuestSet,
                                                   tmp_path: Path) -> None:
    """Scenario 7b: a domU kernel cut in half: Xen cannot unpack it and panics; the boot
    fails at once on that pattern, long before its timeout."""
    whole = debian_guests.directory / debian_guests.kernel_gz
    cut = debian_guests.directory / "Image-truncated.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    values = scenario_config(debian_guests, dom0_marker=None,
                             domus=[DomUSpec("BROKEN", mem_mb=128, vcpus=1)])
    values["DOMU_KERNEL"] = [cut.name]
    gen = generate(write_scenario(debian_guests, "s7b", values), debian_guests.directory)
    timeout = 300.0
    with pytest.raises(BadPattern) as info:  # not BootTimeout: caught during the wait
        run_boot(gen, log_dir=tmp_path, timeout=timeout)
    assert info.value.pattern_name in ("xen-panic", "xen-setup-failed")
    assert info.value.log_path is not None and Path(info.value.log_path).is_file()


def test_missing_tftp_file_fails_in_uboot(debian_guests: GuestSet, tmp_path: Path) -> None:
    """Scenario 7c: a module that vanished after generation: U-Boot's failed ``tftpb`` is
    named at once (a U-Boot script would otherwise carry on after the failed command)."""
    gone = debian_guests.directory / "initrd-gone"
    gone.write_bytes((debian_guests.directory / debian_guests.initrd).read_bytes())
    values = scenario_config(debian_guests, dom0_marker=None,
                             domus=[DomUSpec("NOINITRD", mem_mb=128, vcpus=1)])
    values["DOMU_RAMDISK"] = [gone.name]
    gen = generate(write_scenario(debian_guests, "s7c", values), debian_guests.directory)
    gone.unlink()
    with pytest.raises(BadPattern) as info:
        run_boot(gen, log_dir=tmp_path, timeout=300.0)
    assert info.value.pattern_name == "uboot-tftp-error"
    assert "File not found" in info.value.matched_line
