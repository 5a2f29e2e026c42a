"""PASSTHROUGH_DTS_REPO and LOPPER_PATH: partial DTBs built from a real git repository made
here (``git init``/``commit``) or from a lopper checkout, checked with fdtget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import DOM0, EPOCH, HEAD, booted, fdtget_cells, fdtget_strings, host_dtb, work

from bootproof.builder.errors import BootproofError, InputError, ToolError
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.steps import GenerateOptions, GenerateResult

__all__ = ["host_dtb", "work"]

GPIO_DTS = """\
/dts-v1/;
#include <dt-bindings/bootproof-test.h>
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    passthrough {
        compatible = "simple-bus";
        ranges;
        #address-cells = <2>;
        #size-cells = <2>;
        pl061@9030000 {
            compatible = "arm,pl061", "arm,primecell";
            reg = <0x0 0x9030000 0x0 0x1000>;
            interrupts = <0 GPIO_SPI 4>;
            xen,reg = <0x0 0x9030000 0x0 0x1000 0x0 0x9030000>;
            xen,path = "/pl061@9030000";
        };
    };
};
"""
RTC_DTS = """\
/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    passthrough {
        compatible = "simple-bus";
        ranges;
        #address-cells = <2>;
        #size-cells = <2>;
        pl031@9010000 {
            compatible = "arm,pl031", "arm,primecell";
            reg = <0x0 0x9010000 0x0 0x1000>;
        };
    };
};
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid",
                    *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository laid out like Xilinx's passthrough DT repositories."""
    require_tool("git", "cpp", "dtc")
    r = tmp_path / "pt-repo"
    (r / "include" / "dt-bindings").mkdir(parents=True)
    (r / "include" / "dt-bindings" / "bootproof-test.h").write_text("#define GPIO_SPI 7\n")
    (r / "qemu").mkdir()
    (r / "qemu" / "pl061@9030000.dts").write_text(GPIO_DTS)
    (r / "qemu" / "pl031@9010000.dts").write_text(RTC_DTS)
    subprocess.run(["git", "init", "-q", str(r)], check=True)
    _git(r, "add", ".")
    _git(r, "commit", "-q", "-m", "partial device trees")
    return r


def _gen(work: Path, body: str, cwd: Path | None = None) -> GenerateResult:
    (work / "config").write_text(HEAD + DOM0 + body)
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        d = Path(os.path.relpath(work)) if cwd is not None else work
        return generate(load_config(d / "config", env={}), d, GenerateOptions(env=EPOCH))
    finally:
        os.chdir(old)


DOMUS = """\
NUM_DOMUS=2
DOMU_KERNEL[0]=Image-small
DOMU_PASSTHROUGH_PATHS[0]="/pl061@9030000 /pl031@9010000"
DOMU_KERNEL[1]=Image-small
"""


def test_git_repo_cloned_and_compiled_with_cpp(work: Path, repo: Path) -> None:
    res = _gen(work, f'PASSTHROUGH_DTS_REPO="file://{repo} qemu"\n' + DOMUS)
    m = res.layout.find("domU-dtb", 0)
    assert m is not None and m.file == "partial-dtbs/partial-dts-domU0.dtb"
    # domU1 has no paths, so no partial DTB (the reference refused such a domU)
    assert res.layout.find("domU-dtb", 1) is None
    out = work / m.file
    assert m.size == out.stat().st_size
    node = "/passthrough/pl061@9030000"
    assert fdtget_cells(out, node, "interrupts") == [0, 7, 4]  # the #define came through cpp
    assert fdtget_strings(out, "/passthrough/pl031@9010000", "compatible") == [
        "arm,pl031", "arm,primecell"]
    dtb = booted(work, res)
    assert fdtget_strings(dtb, m.dt_node, "compatible") == [  # type: ignore[arg-type]
        "multiboot,device-tree", "multiboot,module"]
    assert "xen,passthrough" in subprocess.run(
        ["fdtget", "-p", str(dtb), "/pl061@9030000"], capture_output=True, text=True,
        check=True).stdout.split()


def test_relative_repo_is_taken_under_d(work: Path, repo: Path, tmp_path: Path) -> None:
    local = work / "dts-repo"
    subprocess.run(["git", "clone", "-q", str(repo), str(local)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = _gen(work, 'PASSTHROUGH_DTS_REPO="dts-repo qemu"\n' + DOMUS, cwd=elsewhere)
    assert (work / "partial-dtbs" / "partial-dts-domU0.dtb").is_file()
    assert not (elsewhere / "partial-dtbs").exists()
    assert json.loads(res.layout.to_json())["modules"][3]["role"] == "domU-dtb"


def test_errors_name_repo_path_and_command(work: Path, repo: Path) -> None:
    with pytest.raises(InputError) as info:
        _gen(work, f'PASSTHROUGH_DTS_REPO="{repo} qemu"\n'
             + DOMUS.replace("/pl031@9010000", "/pl011@9000000"))
    msg = str(info.value)
    assert "pl011@9000000.dts" in msg and str(repo) in msg and "DOMU_PASSTHROUGH_PATHS[0]" in msg
    with pytest.raises(ToolError) as tool:
        _gen(work, f'PASSTHROUGH_DTS_REPO="file://{repo}-missing qemu"\n' + DOMUS)
    assert "git clone" in str(tool.value) and f"{repo}-missing" in str(tool.value)
    (repo / "qemu" / "pl031@9010000.dts").write_text(RTC_DTS.replace("};\n};", "}"))
    with pytest.raises(ToolError) as bad:
        _gen(work, f'PASSTHROUGH_DTS_REPO="{repo} qemu"\n' + DOMUS)
    assert "pl031@9010000.dts" in str(bad.value) and "dtc" in str(bad.value)
    assert not (work / "boot.scr").exists() and not (work / "partial-dtbs").exists()


def test_cells_must_agree(work: Path, repo: Path) -> None:
    (repo / "qemu" / "pl031@9010000.dts").write_text(
        RTC_DTS.replace("#size-cells = <2>;\n        pl031", "#size-cells = <1>;\n        pl031")
        .replace("<0x0 0x9010000 0x0 0x1000>", "<0x0 0x9010000 0x1000>"))
    with pytest.raises(BootproofError, match="disagree on /passthrough"):
        _gen(work, f'PASSTHROUGH_DTS_REPO="{repo} qemu"\n' + DOMUS)


FAKE_LOPPER = """\
#!{python}
# Stands in for lopper.py: records its argv, writes the -o file from the repo's .dts
# (as lopper would: already preprocessed, the interrupt number written out).
import json, pathlib, sys
argv = sys.argv[1:]
pathlib.Path({log!r}).open("a").write(json.dumps(argv) + "\\n")
out = argv[argv.index("-o") + 1]
node = argv[argv.index("extract-xen") + 2]
text = pathlib.Path({src!r}, node + ".dts").read_text()
text = text.replace("#include <dt-bindings/bootproof-test.h>\\n", "").replace("GPIO_SPI", "9")
pathlib.Path(out).write_text(text)
"""


def test_lopper_checkout_extracts_each_path(work: Path, repo: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "lopper"
    checkout.mkdir()
    log = tmp_path / "lopper.log"
    script = checkout / "lopper.py"
    script.write_text(FAKE_LOPPER.format(python=sys.executable, log=str(log),
                                         src=str(repo / "qemu")))
    script.chmod(0o755)
    res = _gen(work, f'LOPPER_PATH="{checkout}"\nLOPPER_CMD="-i keep-me"\n' + DOMUS)
    calls = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert calls[0] == ["--permissive", "-f", str((work / "virt.dtb").resolve()), "--",
                        "extract", "-t", "/pl061@9030000", "-i", "keep-me", "--",
                        "extract-xen", "-t", "pl061@9030000", "-o", calls[0][-1]]
    assert calls[1][6] == "/pl031@9010000"
    m = res.layout.find("domU-dtb", 0)
    assert m is not None
    assert fdtget_cells(work / m.file, "/passthrough/pl061@9030000", "interrupts") == [0, 9, 4]
    (checkout / "lopper.py").unlink()
    with pytest.raises(InputError, match=r"no lopper\.py"):
        _gen(work, f'LOPPER_PATH="{checkout}"\n' + DOMUS)
