"""The code blocks of the documentation, and how the doc tests use them.

The convention (also in the README's "Tests" section): every fenced block names its
language, and the first word with what follows decides what the tests do with it.

* ```` ```sh ````: commands. Run in order, each block with ``bash -euo pipefail``, in one
  temporary directory per document (``tests/unit/docs``). One command per line: ``bash -e``
  does not stop at a failure inside an ``&&`` or ``||`` list.
* ```` ```sh e2e ````: commands that boot QEMU. Run by the e2e doc test only
  (``tests/e2e/test_docs_boot.py``), after the document's ``sh`` blocks before them.
* ```` ```sh norun ````: commands not run by the doc tests: the README's first block, which
  is the test command itself (CI runs it as ``.ci/run``), and docs/layout-review.md's CI
  commands (``tests/unit/docs/test_layout_review.py`` runs them in a sample repository).
* ```` ```sh pty ````: one ``--interactive`` boot command, run by the e2e doc test in a
  pseudo-terminal as a person would: it waits for the console hand-over, types
  ``echo $((6 * 7))``, reads ``42`` back, leaves with Ctrl-] and wants exit status 0.
* ```` ```sh gdb ````: one ``--gdb`` boot command, run by the e2e doc test: it reads the
  ``gdb-multiarch`` command line bootproof prints, runs it in batch mode (read the PC,
  detach, so that the guest runs on) and wants the boot's exit status 0.
* ```` ```LANG excerpt=PATH ````: an excerpt of PATH (relative to the directory the blocks
  run in, where ``examples/`` and ``qemu_configs/`` are the repository's, and files the
  blocks before it generated are found). Every line that is not blank, ``...`` or a
  ``# ...`` comment must be a line of PATH, in the same order.
* ``text``, ``console``, ``python``, ``json``, ``toml``, ``yaml``: shown only.

The temporary directory holds ``examples/`` and ``qemu_configs/`` (links to the repository's)
and the ELF files the README's Xous commands name: ``kernel.elf``, ``init1.elf``,
``init2.elf`` and ``xip.elf`` are bootproof's own test kernel and init programs
(``harness/guests/``), cross-built as the e2e tests build them. Nothing else is substituted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LANGUAGES = ("sh", "text", "console", "python", "json", "toml", "yaml")
#: What the documents' sh blocks use (the e2e ones also need QEMU for riscv32 and mkimage).
TOOLS = ("riscv64-unknown-elf-gcc", "qemu-system-aarch64", "mkfs.vfat", "mcopy", "mmd",
         "mke2fs", "debugfs")
SH_FLAGS = ("e2e", "norun", "pty", "gdb")
#: The kinds the e2e doc test runs (after the plain ``sh`` blocks before them).
BOOT_KINDS = ("e2e", "pty", "gdb")


def documents() -> list[Path]:
    """README.md and docs/*.md: the documents whose commands are run."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def all_markdown() -> list[Path]:
    """Every Markdown file of the repository (outside hidden and build directories)."""
    return sorted(p for p in REPO.rglob("*.md")
                  if not any(part.startswith(".") or part == "build"
                             for part in p.relative_to(REPO).parts[:-1]))


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its info string split into words, and its text."""

    doc: Path
    line: int  # of the opening fence, 1-based
    info: tuple[str, ...]
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    @property
    def lang(self) -> str:
        return self.info[0] if self.info else ""

    @property
    def excerpt_of(self) -> str | None:
        for word in self.info[1:]:
            if word.startswith("excerpt="):
                return word[len("excerpt="):]
        return None

    @property
    def kind(self) -> str:
        """``run``, ``e2e``, ``pty``, ``gdb``, ``norun``, ``excerpt`` or ``shown``."""
        if self.excerpt_of is not None:
            return "excerpt"
        if self.lang == "sh":
            flags = self.info[1:]
            return flags[0] if flags else "run"
        return "shown"

    def problems(self) -> list[str]:
        """What breaks the convention in this block (empty when it follows it)."""
        if self.lang not in LANGUAGES:
            return [f"{self.where}: fenced block without a known language "
                    f"({', '.join(LANGUAGES)}): {' '.join(self.info) or '(none)'}"]
        extra = list(self.info[1:])
        if self.excerpt_of is not None:
            extra = [w for w in extra if not w.startswith("excerpt=")]
            if not self.excerpt_of:
                return [f"{self.where}: excerpt= names no file"]
        elif self.lang == "sh" and len(extra) == 1 and extra[0] in SH_FLAGS:
            extra = []
        out = [f"{self.where}: unknown word {w!r} after the language" for w in extra]
        if self.kind in ("pty", "gdb") and len(self.text.strip().splitlines()) != 1:
            out.append(f"{self.where}: a {self.kind} block holds exactly one command")
        if self.kind in ("run", "e2e") and ("&&" in self.text or "||" in self.text):
            # bash -e stops at a failed command, but not inside an && or || list
            out.append(f"{self.where}: one command per line in a block that is run "
                       "(no && or ||), so that a failure stops it")
        return out


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of ``doc`` in order. A fence is a line starting with three
    backquotes; the block ends at the next line that is only three backquotes."""
    out = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            info = tuple(lines[i][3:].split())
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                raise AssertionError(f"{doc}:{i + 1}: fenced block never closed")
            out.append(Block(doc, i + 1, info, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return out


def excerpt_problems(block: Block, base: Path) -> list[str]:
    """Lines of an excerpt block that are not, in order, lines of the file it names."""
    assert block.excerpt_of is not None
    path = base / block.excerpt_of
    try:
        have = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        return [f"{block.where}: cannot read {block.excerpt_of}: {exc.strerror}"]
    pos = 0
    for want in block.text.splitlines():
        if not want.strip() or want.strip() == "..." or want.lstrip().startswith("# ..."):
            continue
        try:
            pos = have.index(want, pos) + 1
        except ValueError:
            return [f"{block.where}: not a line of {block.excerpt_of} (after line {pos}): "
                    f"{want!r}"]
    return []


def xous_elfs(dest: Path) -> None:
    """Put the README's Xous inputs into ``dest``: the test kernel and three init programs."""
    from bootproof.harness.guests.build import InitKind, build_init, build_kernel

    shutil.copy(build_kernel(), dest / "kernel.elf")
    programs: tuple[tuple[str, InitKind, int], ...] = (
        ("init1", "small", 1), ("init2", "big", 2), ("xip", "xip", 3))
    for name, kind, variant in programs:
        shutil.copy(build_init(name, kind, variant), dest / f"{name}.elf")


def workdir(tmp: Path) -> Path:
    """A directory to run a document's blocks in (see the module docstring)."""
    for name in ("examples", "qemu_configs"):
        (tmp / name).symlink_to(REPO / name, target_is_directory=True)
    xous_elfs(tmp)
    return tmp


def _env() -> dict[str, str]:
    """The environment blocks run in: the project's commands first on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def run_block(block: Block, cwd: Path, *, timeout: float) -> str:
    """Run a ``sh`` block with the project's commands first on PATH; return a failure
    message (command text, exit status, output), or "" when it exits 0."""
    env = _env()
    try:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=cwd, env=env,
                           capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return f"{block.where}: timed out after {exc.timeout} s:\n{block.text}"
    if r.returncode == 0:
        return ""
    return (f"{block.where}: exit {r.returncode}\n{block.text}\n--- stdout\n{r.stdout[-4000:]}"
            f"\n--- stderr\n{r.stderr[-4000:]}")


def run_document(doc: Path, tmp: Path, *, with_e2e: bool) -> list[Block]:
    """Run ``doc``'s blocks (``sh``; also ``sh e2e`` when ``with_e2e``) and check its
    excerpts, in document order; fail at the first problem. Returns the blocks run or checked."""
    cwd = workdir(tmp)
    done = []
    for block in blocks(doc):
        if block.kind == "run" or (with_e2e and block.kind == "e2e"):
            failure = run_block(block, cwd, timeout=900 if block.kind == "e2e" else 300)
            assert not failure, failure
            done.append(block)
        elif with_e2e and block.kind in ("pty", "gdb"):
            from docboots import run_gdb_block, run_pty_block

            (run_pty_block if block.kind == "pty" else run_gdb_block)(block, cwd, _env())
            done.append(block)
        elif block.kind == "excerpt":
            problems = excerpt_problems(block, cwd)
            assert not problems, "\n".join(problems)
            done.append(block)
    return done
