"""docs/layout-review.md: the CI gate runs as the page shows it, on a sample repository.

The gate's commands are taken from the page: the step "layout gate" of the GitHub
Actions snippet and the ``script`` of the GitLab job (both must be the page's ``sh norun``
gate block, line for line), and the sample repository's ``ci/layout.sh`` is the page's
example for its target. Each sample is a git repository made here with two commits:

* Xous: the program's linker script reserves a 4 KiB stack at the start of ``.data``;
* Xen: the config switches domU 0 to a kernel that is 128 KiB bigger and crosses a 2 MiB
  boundary.

Expected figures come from the inputs: section sizes read with pyelftools, the sizes of
the files written here with ImageBuilder's documented placement rule.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import require_tool
from docblocks import REPO, Block, blocks
from elftools.elf.elffile import ELFFile

from bootproof.harness.golden import check_layout, load_layout

DOC = REPO / "docs" / "layout-review.md"
GUESTS = REPO / "tests" / "unit" / "xous" / "guests"
TEMPLATES = {name: REPO / "ci" / "templates" / name
             for name in ("github-layout-review.yml", "gitlab-layout-review.yml")}
PAGE = 0x1000
MIB = 1 << 20
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def doc_blocks(kind: str) -> list[Block]:
    return [b for b in blocks(DOC) if b.kind == kind or b.lang == kind]


def gate_block() -> list[str]:
    """The page's gate: its first ``sh norun`` block."""
    return doc_blocks("norun")[0].text.splitlines()


def yaml_text(name: str) -> str:
    """The page's YAML block that is the template ``ci/templates/NAME`` (its first line
    names the file it is installed as; the template's is the same)."""
    first = TEMPLATES[name].read_text(encoding="utf-8").splitlines()[0]
    (block,) = [b for b in doc_blocks("yaml") if b.text.splitlines()[0] == first]
    return block.text


def yaml_block(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(yaml_text(name))
    return data


def github_gate() -> tuple[list[str], dict[str, str]]:
    (step,) = [s for s in yaml_block("github-layout-review.yml")["jobs"]["layout"]["steps"]
               if s.get("name") == "layout gate"]
    return step["run"].splitlines(), step["env"]


def gitlab_gate() -> tuple[list[str], dict[str, str]]:
    job = yaml_block("gitlab-layout-review.yml")["layout-review"]
    return job["script"], job["variables"]


def layout_script(target: str) -> str:
    (block,) = [b for b in doc_blocks("norun")
                if f"\n# ci/layout.sh ({target})" in b.text]
    return block.text


def strict_gate() -> list[str]:
    """The page's stricter diff line (the gate's last line with more rules)."""
    (block,) = [b for b in doc_blocks("norun") if "--fail-on move" in b.text]
    return block.text.splitlines()


def test_both_snippets_run_the_page_gate() -> None:
    gh, gh_env = github_gate()
    gl, gl_env = gitlab_gate()
    assert gh == gate_block()
    assert gl == gate_block()
    assert gh_env["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert gl_env["BASE_SHA"] == "$CI_MERGE_REQUEST_DIFF_BASE_SHA"
    assert "--fail-on overlap" in gh[-1] and "--svg layout/diff.svg" in gh[-1]
    # the templates are the page's blocks, whole
    for name, path in TEMPLATES.items():
        assert yaml_text(name) == path.read_text(encoding="utf-8"), name


# -- the sample repositories ------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV},
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def new_repo(path: Path, files: dict[str, bytes | str], script: str) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    write(path, {**files, "ci/layout.sh": script})
    mode = (path / "ci" / "layout.sh").stat().st_mode
    (path / "ci" / "layout.sh").chmod(mode | stat.S_IXUSR)
    commit(path, "base")
    return path


def write(repo: Path, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def run_lines(repo: Path, lines: list[str], base: str) -> subprocess.CompletedProcess[str]:
    """Run CI lines as a runner does (bash -eo pipefail), the project's commands first on
    PATH and BASE_SHA set."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, **GIT_ENV, "BASE_SHA": base,
           "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(["bash", "-eo", "pipefail", "-c", "\n".join(lines)], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def run_gate(repo: Path, base: str, lines: list[str]) -> str:
    r = run_lines(repo, lines, base)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    for name in ("diff.md", "diff.svg", "base/layout.json", "change/layout.json"):
        assert (repo / "layout" / name).is_file(), name  # the artifacts the snippets keep
    svg = ET.parse(repo / "layout" / "diff.svg").getroot()
    assert svg.tag.endswith("svg")
    return (repo / "layout" / "diff.md").read_text(encoding="utf-8")


def md_row(markdown: str, what: str, item: str) -> list[str]:
    """The cells of the report's table row for ``item``'s change ``what``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] == what and cells[1] == f"`{item}`":
            return cells
    raise AssertionError(f"no '{what}' row for {item} in\n{markdown}")


def md_rows(markdown: str, what: str) -> set[str]:
    """The items of the report's rows of change ``what``."""
    out = set()
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] == what:
            out.add(cells[1].strip("`"))
    return out


def delta_text(delta: int) -> str:
    """``+0x1000 (+4 KiB)``, written here from the number."""
    size = abs(delta)
    human = f"{size // MIB} MiB" if size % MIB == 0 else f"{size // 1024} KiB"
    return f"{'-' if delta < 0 else '+'}0x{size:x} ({'-' if delta < 0 else '+'}{human})"


def strict_fails(repo: Path, base: str, rule: str) -> str:
    """Re-run the diff with the page's stricter line; it must exit 1; its stderr."""
    r = run_lines(repo, strict_gate(), base)
    assert r.returncode == 1, f"exit {r.returncode}\n{r.stderr}"
    assert rule in r.stderr, r.stderr
    return r.stderr


# -- Xous: the linker script moves .data up a page ---------------------------------------

STACK = "    .data : { _stack_bottom = .; . += 0x1000; _stack_top = .; "


def loaded_size(elf: Path) -> int:
    """Bytes of the ELF's allocated sections that have contents (what the payload holds)."""
    with elf.open("rb") as fh:
        return sum(int(s["sh_size"]) for s in ELFFile(fh).iter_sections()
                   if s["sh_flags"] & 2 and s["sh_type"] != "SHT_NOBITS")


@pytest.mark.cross
def test_gate_on_a_linker_script_change(tmp_path: Path) -> None:
    require_tool("riscv64-unknown-elf-gcc", "git")
    app_ld = (GUESTS / "init.ld").read_text(encoding="utf-8")
    data_line = "    .data : { "
    assert app_ld.count(data_line) == 1
    repo = new_repo(tmp_path / "xous", {
        "kernel.c": (GUESTS / "kernel.c").read_text(encoding="utf-8"),
        "kernel.ld": (GUESTS / "kernel.ld").read_text(encoding="utf-8"),
        "app.c": (GUESTS / "init.c").read_text(encoding="utf-8"),
        "app.ld": app_ld}, layout_script("Xous"))
    base = git(repo, "rev-parse", "HEAD")
    write(repo, {"app.ld": app_ld.replace(data_line, STACK)})
    commit(repo, "app: a 4 KiB stack at the start of .data")

    report = run_gate(repo, base, gate_block())
    out = repo / "layout"
    with (out / "change" / "app.elf").open("rb") as fh:
        data = ELFFile(fh).get_section_by_name(".data")
        assert data is not None
        assert int(data["sh_size"]) >= PAGE  # the stack is in .data
    growth = loaded_size(out / "change" / "app.elf") - loaded_size(out / "base" / "app.elf")
    assert growth == PAGE
    assert md_row(report, "resized", "app")[4] == delta_text(growth)
    # payloads are page-aligned one after another: the kernel's follows the program's
    assert md_row(report, "moved", "kernel")[4] == delta_text(PAGE)
    assert md_rows(report, "moved") == {"kernel"}
    assert md_rows(report, "resized") == {"app"}
    # assert_layout (and the gate) may compare the args.bin itself: the same layout as its map
    change = out / "change"
    assert check_layout(load_layout(change / "args.bin"), load_layout(change / "layout.json")) \
        == ""
    assert "0 new overlap(s)" in report and "**new overlap**" not in report
    strict_fails(repo, base, "move: kernel in args.bin by +0x1000")


# -- Xen: the config picks a bigger domU kernel ------------------------------------------

DTS = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>; compatible = "linux,dummy-virt";
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
    chosen { };
};
"""
CONFIG = """MEMORY_START=0x40000000
MEMORY_END=0x50000000
DEVICE_TREE=virt.dtb
XEN=xen
DOM0_KERNEL=Image
DOM0_RAMDISK=initrd
NUM_DOMUS=2
DOMU_KERNEL[0]=Image-domu
DOMU_RAMDISK[0]=initrd
DOMU_KERNEL[1]=Image-domu
DOMU_RAMDISK[1]=initrd
LOAD_CMD=tftpb
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""
OLD_DOMU, NEW_DOMU = 0x1F0000, 0x210000  # 2 MiB - 64 KiB, then 2 MiB + 64 KiB


def arm64_image(size: int) -> bytes:
    head = bytearray(64)
    head[16:24] = size.to_bytes(8, "little")  # image_size
    head[56:60] = b"ARM\x64"
    return bytes(head) + bytes(size - 64)


def test_gate_on_a_xen_config_change(tmp_path: Path) -> None:
    require_tool("dtc", "git")
    dtb = subprocess.run(["dtc", "-I", "dts", "-O", "dtb"], input=DTS.encode(),
                         capture_output=True, check=True).stdout
    repo = new_repo(tmp_path / "xen", {
        "xen/config": CONFIG, "xen/virt.dtb": dtb, "xen/xen": bytes(MIB),
        "xen/Image": arm64_image(4 * MIB), "xen/Image-domu": arm64_image(OLD_DOMU),
        "xen/Image-domu-debug": arm64_image(NEW_DOMU),
        "xen/initrd": gzip.compress(b"070701" + bytes(1000)),
        ".gitignore": "xen/boot.*\n"}, layout_script("Xen"))
    base = git(repo, "rev-parse", "HEAD")
    write(repo, {"xen/config": CONFIG.replace("DOMU_KERNEL[0]=Image-domu\n",
                                              "DOMU_KERNEL[0]=Image-domu-debug\n")})
    commit(repo, "domU 0: the debug kernel")

    report = run_gate(repo, base, gate_block())  # no overlap: the gate passes
    align = 2 * MIB  # ImageBuilder's ADDRESS_ALIGN default
    step = -(-NEW_DOMU // align) * align - -(-OLD_DOMU // align) * align
    assert step == 2 * MIB
    assert md_row(report, "resized", "domU0-kernel")[4] == delta_text(NEW_DOMU - OLD_DOMU)
    # every module placed after domU 0's kernel moves up by the step
    after = {"domU0-ramdisk", "domU1-kernel", "domU1-ramdisk", "xen", "dtb"}
    for item in after:
        assert md_row(report, "moved", item)[4] == delta_text(step), item
    assert md_rows(report, "moved") == after  # what lies before the kernel stays
    assert md_rows(report, "resized") == {"domU0-kernel"}
    assert re.search(r"Headroom: .* \(" + re.escape(delta_text(-step)) + r"\)", report)
    assert "0 new overlap(s)" in report and "**new overlap**" not in report
    strict_fails(repo, base, "move: domU0-ramdisk in ram by +0x200000")
