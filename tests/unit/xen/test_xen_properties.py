"""Property tests: the config reader never crashes on junk; layouts never overlap."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.config import build_config, load_config
from bootproof.builder.xen.plan import FileInfo, plan
from bootproof.builder.xen.shellvars import parse_shell_vars

ALPHABET = st.sampled_from([*"AB_=[]$(){}'\"`\\#;|&<> \n\t0x1-+*/%:", "NUM_DOMUS"])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_reader_only_ever_raises_config_error(text: str) -> None:
    try:
        sv = parse_shell_vars(text.encode(), path="fuzz", env={"A": "1"})
    except ConfigError:
        return
    with contextlib.suppress(ConfigError):
        build_config(sv)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 0x3000000), min_size=1, max_size=12),
    start=st.integers(0, 0x100).map(lambda v: v * 0x100000),
    align_shift=st.integers(16, 24),
    extra=st.integers(0, 0x10000),
)
def test_layout_items_are_aligned_disjoint_and_in_ram(
    tmp_path: Path, sizes: list[int], start: int, align_shift: int, extra: int
) -> None:
    n = len(sizes) - 1
    text = [f"MEMORY_START=0x{start:x}", f"MEMORY_END=0x{start + (1 << 34):x}",
            "DEVICE_TREE=d.dtb", "XEN=xen", f"NUM_DOMUS={n}", f"ADDRESS_ALIGN={1 << align_shift}"]
    files = {"d.dtb": FileInfo(0x2000, 0, 0x1800), "xen": FileInfo(sizes[0])}
    for i in range(n):
        text.append(f"DOMU_KERNEL[{i}]=k{i}")
        files[f"k{i}"] = FileInfo(sizes[i + 1])
    p = tmp_path / "config"
    p.write_text("\n".join(text) + "\n")
    layout = plan(load_config(p, env={}), files, dtb_extra=extra)
    mods = sorted(layout.modules, key=lambda m: m.addr)
    assert len(mods) == n + 2
    for a, b in itertools.pairwise(mods):
        assert a.end <= b.addr
    align = 1 << align_shift
    assert all(m.addr % align == 0 for m in mods[1:])
    assert mods[0].addr >= layout.script_addr + align
    dtb = layout.find("dtb")
    assert dtb is not None and dtb.span >= 0x1800 + extra
