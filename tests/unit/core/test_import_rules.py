"""What may import what, checked on the source: the layers of ARCHITECTURE's sketch.

* the builder never imports the harness;
* ``builder.xous`` and ``builder.xen`` never import each other, nor do ``harness.xous`` and
  ``harness.xen``;
* a byte format (``builder.formats``) never imports a planner (``builder.xous``,
  ``builder.xen``, ``builder.disk``); it may use the layout model (``builder.layout``),
  which imports neither a planner nor a format;
* the harness's core (machine, console, errors, runner, cache) imports no flow
  (``harness.xous``, ``harness.xen``) nor the guests' build;
* no circle of imports among bootproof's modules.

A small AST check rather than import-linter: it needs no extra dependency, reads the module
names from pyproject's package-dir mapping (the folders are not named like the packages,
which import-linter's module discovery expects), sees imports hidden inside functions
(a circle through a function-level import is still a circle a reader must untangle), and
import-linter has no contract for "no circle anywhere". An edge goes from a module to each
bootproof module it names: ``from a.b import c`` is an edge to ``a.b.c`` when that is a
module, else to ``a.b``; importing ``a.b.c`` is not counted as importing the package ``a.b``.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: (importer, imported, why): no module under the first prefix may import one under the second.
FORBIDDEN: tuple[tuple[str, str, str], ...] = (
    ("bootproof.builder", "bootproof.harness", "the builder never imports the harness"),
    ("bootproof.builder.xous", "bootproof.builder.xen", "xous and xen are independent"),
    ("bootproof.builder.xen", "bootproof.builder.xous", "xous and xen are independent"),
    ("bootproof.harness.xous", "bootproof.harness.xen", "xous and xen are independent"),
    ("bootproof.harness.xen", "bootproof.harness.xous", "xous and xen are independent"),
    ("bootproof.builder.formats", "bootproof.builder.xous", "a format imports no planner"),
    ("bootproof.builder.formats", "bootproof.builder.xen", "a format imports no planner"),
    ("bootproof.builder.formats", "bootproof.builder.disk", "a format imports no planner"),
    ("bootproof.harness.core", "bootproof.harness.xous", "the core imports no flow"),
    ("bootproof.harness.core", "bootproof.harness.xen", "the core imports no flow"),
    ("bootproof.harness.core", "bootproof.harness.guests", "the core imports no flow"),
    ("bootproof.builder.layout", "bootproof.builder.xous", "the layout model is plain data"),
    ("bootproof.builder.layout", "bootproof.builder.xen", "the layout model is plain data"),
    ("bootproof.builder.layout", "bootproof.builder.disk", "the layout model is plain data"),
    ("bootproof.builder.layout", "bootproof.builder.formats", "the layout model is plain data"),
)

#: Circles that existed when this test was written, each with who removes it. The test fails
#: when one of them is gone (delete its line then) or when any other circle appears.
KNOWN_CIRCLES: frozenset[frozenset[str]] = frozenset()


def package_dirs(root: Path) -> dict[str, Path]:
    """pyproject's ``[tool.setuptools] package-dir``: import name -> folder."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: root / folder for name, folder in mapping.items()}


def modules_of(dirs: Mapping[str, Path]) -> dict[str, Path]:
    """Every module under the mapped folders: dotted name -> file."""
    found: dict[str, Path] = {}
    for prefix, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The known modules that module ``name`` (its source at ``path``) imports, anywhere."""
    known = set(known)
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                targets.add(sub if sub in known else module)
    return {t for t in targets if t in known and t != name}


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = modules_of(package_dirs(root))
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def forbidden_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """One line per import that breaks a rule of :data:`FORBIDDEN`."""
    return [f"{src} imports {dst}: {why}"
            for src in sorted(graph) for dst in sorted(graph[src])
            for importer, imported, why in FORBIDDEN
            if _under(src, importer) and _under(dst, imported)]


def circles(graph: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_both_trees_and_hidden_imports() -> None:
    graph = import_graph(ROOT)
    assert "bootproof.builder.xous.cli" in graph and "bootproof.harness.core.machine" in graph
    # a function-level import is an edge too (the umbrella's lazy registration)
    assert "bootproof.builder.xous.cli" in graph["bootproof.harness.cli"]


def test_no_forbidden_import() -> None:
    assert forbidden_imports(import_graph(ROOT)) == []


def test_no_new_import_circle_and_no_stale_known_one() -> None:
    found = set(circles(import_graph(ROOT)))
    new = [sorted(c) for c in found - KNOWN_CIRCLES]
    gone = [sorted(c) for c in KNOWN_CIRCLES - found]
    assert new == [], f"import circle(s): {new}"
    assert gone == [], f"circle(s) removed, delete them from KNOWN_CIRCLES: {gone}"


# The checker itself, on small trees that break one rule each.

def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = {"bootproof.builder" = "builder", '
        '"bootproof.harness" = "harness"}\n')
    for rel, text in {"builder/__init__.py": "", "harness/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(("files", "expected"), [
    ({"builder/x.py": "from bootproof.harness.core import errors\n",
      "harness/core/__init__.py": "", "harness/core/errors.py": ""},
     "bootproof.builder.x imports bootproof.harness.core.errors"),
    ({"builder/xous/__init__.py": "", "builder/xen/__init__.py": "",
      "builder/xen/plan.py": "def f() -> None:\n    from ..xous import image\n",
      "builder/xous/image.py": ""},
     "bootproof.builder.xen.plan imports bootproof.builder.xous.image"),
    ({"builder/formats/__init__.py": "", "builder/disk/__init__.py": "",
      "builder/formats/fdt.py": "import bootproof.builder.disk\n"},
     "bootproof.builder.formats.fdt imports bootproof.builder.disk"),
    ({"harness/xous/__init__.py": "", "harness/xen/__init__.py": "",
      "harness/xous/flow.py": "from bootproof.harness.xen import flow\n",
      "harness/xen/flow.py": ""},
     "bootproof.harness.xous.flow imports bootproof.harness.xen.flow"),
    ({"builder/formats/__init__.py": "", "builder/formats/fdt.py": "",
      "builder/layout.py": "from bootproof.builder.formats import fdt\n"},
     "bootproof.builder.layout imports bootproof.builder.formats.fdt"),
])
def test_checker_finds_each_forbidden_import(
    tmp_path: Path, files: Mapping[str, str], expected: str
) -> None:
    found = forbidden_imports(import_graph(_tree(tmp_path, files)))
    assert [line.split(":")[0] for line in found] == [expected]


def test_checker_finds_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    graph = import_graph(_tree(tmp_path, {
        "builder/a.py": "from bootproof.builder import b\n",
        "builder/b.py": "def f() -> None:\n    from . import c\n",
        "builder/c.py": "import bootproof.builder.a\n",
        "builder/d.py": "from bootproof.builder.a import thing\n",
    }))
    assert circles(graph) == [frozenset({"bootproof.builder.a", "bootproof.builder.b",
                                         "bootproof.builder.c"})]
