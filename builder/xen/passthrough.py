"""Partial device trees for passthrough, built from a DTS repository or with lopper.

``PASSTHROUGH_DTS_REPO="REPO [SUBDIR]"`` names a directory (relative paths are taken under
the ``-d`` directory) or a git URL (``x@y:z``, ``file://``, ``https://``... cloned with
``git clone --depth 1`` into a private work directory; a local path or ``file://`` works
offline). For every booted domU with ``DOMU_PASSTHROUGH_PATHS[i]``, each path's last
component names a file ``REPO/SUBDIR/<name>.dts``; the files are merged, as ImageBuilder
does, into one source (the first keeps its ``/dts-v1/``), run through the C preprocessor
(``cpp -nostdinc -undef -x assembler-with-cpp``, include directories ``REPO/include``,
``REPO/SUBDIR`` and ``REPO``, so ``#include <dt-bindings/...>`` works) and compiled with
``dtc``. Their ``/passthrough`` nodes must agree on ``#address-cells`` and ``#size-cells``.

``LOPPER_PATH`` (a lopper checkout holding ``lopper.py``, or ``lopper`` for the command on
PATH, e.g. from ``pip install bootproof[lopper]``) extracts each path from ``DEVICE_TREE``
instead: ``lopper --permissive -f DTB -- extract -t PATH LOPPER_CMD -- extract-xen -t NODE
-o NODE.dts``, the reference's command; the ``.dts`` files are then merged the same way.

The result is one DTB per domU, ``partial-dtbs/partial-dts-domU<i>.dtb`` under ``-d`` (the
reference used random ``mktemp`` names), loaded as that domU's ``multiboot,device-tree``
module. Errors name the repository, the path and the failing command.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import ConfigError, InputError, ToolError
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.tools import run_tool
from bootproof.builder.xen.config.model import DomU, ImageBuilderConfig

OUTPUT_DIR = "partial-dtbs"
#: ImageBuilder's default LOPPER_CMD (ZynqMP): what to keep and drop around the device.
DEFAULT_LOPPER_CMD = ("-i zynqmp-firmware -x interrupt-controller -x pinctrl -x "
                      "power-domains -x resets -x current-speed")
_GIT_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|[^/\s]+@[^\s:]+:)")


@dataclass(frozen=True)
class Tools:
    """The programs run (names on PATH or paths)."""

    git: str = "git"
    cpp: str = "cpp"
    dtc: str = "dtc"


def output_name(index: int) -> str:
    """The partial DTB of domU ``index``, relative to ``-d``."""
    return f"{OUTPUT_DIR}/partial-dts-domU{index}.dtb"


def wanted(cfg: ImageBuilderConfig) -> list[DomU]:
    """The booted domUs that get a partial DTB built (those with passthrough paths)."""
    if cfg.passthrough_dts_repo is None and cfg.lopper_path is None:
        return []
    return [d for d in cfg.booted_domus if d.passthrough_paths]


def _run(argv: list[str], what: str, *, cwd: Path | None = None) -> None:
    try:
        run_tool(argv, cwd=cwd, timeout=300)
    except ToolError as exc:
        raise ToolError(f"{what}: {exc.message}", argv=exc.argv, output=exc.output,
                        returncode=exc.returncode) from exc


def fetch_repo(text: str, root: Path, work: Path, tools: Tools = Tools()) -> Path:
    """The directory ``PASSTHROUGH_DTS_REPO``'s first word names: a git URL cloned (depth
    1) under ``work``, or a directory (relative: under ``root``). Raises
    :class:`InputError` for a directory that does not exist, :class:`ToolError` (with the
    git command and its output) when the clone fails."""
    repo = text.split()[0]
    if _GIT_URL.match(repo):
        dest = work / "repo"
        _run([tools.git, "clone", "--depth", "1", "--quiet", repo, str(dest)],
             f"PASSTHROUGH_DTS_REPO {repo}: cannot clone")
        return dest
    path = Path(repo)
    path = path if path.is_absolute() else root / path
    if not path.is_dir():
        raise InputError("is not a directory (nor a git URL)", field="PASSTHROUGH_DTS_REPO",
                         value=repo, path=path)
    return path.resolve()


def _merge(sources: list[Path], work: Path, index: int) -> Path:
    """One source for domU ``index`` that includes every file (``/dts-v1/`` kept in the
    first only, as ImageBuilder does)."""
    lines = []
    for n, src in enumerate(sources):
        if n:
            copy = work / f"domU{index}-{n}-{src.name}"
            copy.write_text("".join(ln for ln in src.read_text().splitlines(keepends=True)
                                    if "/dts-v" not in ln))
            src = copy
        lines.append(f'#include "{src}"\n')
    merged = work / f"partial-dts-domU{index}.dts"
    merged.write_text("".join(lines))
    return merged


def _cells(dtb: Path, label: str) -> tuple[int | None, int | None]:
    tree = DeviceTree.load(dtb)
    a = tree.cells("/passthrough", "#address-cells")
    s = tree.cells("/passthrough", "#size-cells")
    if a is None or s is None:
        raise InputError("has no /passthrough node with #address-cells and #size-cells",
                         path=label, field="PASSTHROUGH_DTS_REPO")
    return a[0], s[0]


def _compile(src: Path, out: Path, includes: list[Path], label: str, tools: Tools) -> None:
    pre = out.with_suffix(".pp.dts")
    _run([tools.cpp, "-nostdinc", "-undef", "-x", "assembler-with-cpp",
          *(f"-I{d}" for d in includes), "-o", str(pre), str(src)],
         f"{label}: the C preprocessor failed")
    _run([tools.dtc, "-q", "-I", "dts", "-O", "dtb", "-o", str(out), str(pre)],
         f"{label}: dtc failed")


def _lopper_argv(cfg: ImageBuilderConfig, root: Path) -> list[str]:
    assert cfg.lopper_path is not None
    path = Path(cfg.lopper_path)
    if not path.is_absolute() and (root / path).exists():
        path = root / path
    if path.is_dir():
        script = path / "lopper.py"
        if not script.is_file():
            raise InputError("has no lopper.py", path=path, field="LOPPER_PATH")
        return [str(script)]
    return [cfg.lopper_path]  # a command: "lopper" from PyPI (bootproof[lopper])


def _lopper_sources(cfg: ImageBuilderConfig, root: Path, d: DomU, work: Path) -> list[Path]:
    if cfg.device_tree is None:
        raise ConfigError("LOPPER_PATH extracts from DEVICE_TREE, which is not set",
                          path=cfg.path, field="LOPPER_PATH")
    lopper = _lopper_argv(cfg, root)
    extra = shlex.split(cfg.lopper_cmd or DEFAULT_LOPPER_CMD)
    out = []
    for p in d.passthrough_paths:
        node = p.rsplit("/", 1)[-1]
        dts = work / f"domU{d.index}-{node}.dts"
        _run([*lopper, "--permissive", "-f", str((root / cfg.device_tree).resolve()), "--",
              "extract", "-t", p, *extra, "--", "extract-xen", "-t", node, "-o", str(dts)],
             f"LOPPER_PATH {cfg.lopper_path}: DOMU_PASSTHROUGH_PATHS[{d.index}] {p}: "
             "lopper failed", cwd=work)
        if not dts.is_file():
            raise ToolError(f"lopper wrote no {dts.name} for {p}", argv=lopper)
        out.append(dts)
    return out


def build_partial_dtbs(cfg: ImageBuilderConfig, root: Path,
                       tools: Tools = Tools()) -> Mapping[int, tuple[str, bytes]]:
    """The partial DTB of every domU that gets one: ``{index: (output name, bytes)}``
    (nothing is written here). Raises :class:`ConfigError`/:class:`InputError` naming the
    repository and the missing file, :class:`ToolError` naming the failing command."""
    domus = wanted(cfg)
    if not domus:
        return {}
    out: dict[int, tuple[str, bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="bootproof-passthrough-") as tmp:
        work = Path(tmp)
        repo_dir: Path | None = None
        subdir = "."
        repo_name = (cfg.passthrough_dts_repo or "").split()[:1]
        if cfg.passthrough_dts_repo is not None:
            repo_dir = fetch_repo(cfg.passthrough_dts_repo, root, work, tools)
            words = cfg.passthrough_dts_repo.split()
            subdir = words[1] if len(words) > 1 else "."
        for d in domus:
            label = f"DOMU_PASSTHROUGH_PATHS[{d.index}]"
            if repo_dir is not None:
                base = repo_dir / subdir
                sources = []
                for p in d.passthrough_paths:
                    f = base / f"{p.rsplit('/', 1)[-1]}.dts"
                    if not f.is_file():
                        raise InputError(f"{label} {p}: no {f.name} in the repository "
                                         f"{' '.join(repo_name)} ({subdir})", path=f,
                                         field="PASSTHROUGH_DTS_REPO")
                    sources.append(f)
                includes = [repo_dir / "include", base, repo_dir]
            else:
                sources = _lopper_sources(cfg, root, d, work)
                includes = [work]
            cells: set[tuple[int | None, int | None]] = set()
            for f in sources:
                one = work / f"check-{d.index}-{f.stem}.dtb"
                _compile(f, one, [*includes, f.parent], f"{label}: {f}", tools)
                cells.add(_cells(one, str(f)))
            if len(cells) > 1:
                raise InputError(f"the partial DTs of {label} disagree on /passthrough "
                                 "#address-cells/#size-cells", field=label,
                                 value=" ".join(d.passthrough_paths))
            dtb = work / f"domU{d.index}.dtb"
            _compile(_merge(sources, work, d.index), dtb, includes, f"{label}: merged", tools)
            out[d.index] = (output_name(d.index), dtb.read_bytes())
    return out
