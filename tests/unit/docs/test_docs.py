"""The documentation cannot drift: its commands run and its excerpts match (tests/docblocks.py).

Each document's ``sh`` blocks run in order in a temporary directory next to the bundled
examples; ``excerpt=`` blocks are compared with the files they quote, at their place in the
document (so a generated file is compared after the commands that made it ran).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool
from docblocks import REPO, TOOLS, all_markdown, blocks, documents, run_document


@pytest.mark.parametrize("doc", all_markdown(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_block_follows_the_convention(doc: Path) -> None:
    problems = [p for b in blocks(doc) for p in b.problems()]
    assert not problems, "\n".join(problems)


def test_the_readme_has_commands_of_every_kind() -> None:
    kinds = [b.kind for b in blocks(REPO / "README.md")]
    assert kinds[0] == "norun"  # the house rule: set-up + demo, and the test command
    assert {"run", "e2e", "excerpt"} <= set(kinds)


@pytest.mark.parametrize("doc", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_document_commands_run(doc: Path, tmp_path: Path) -> None:
    require_tool(*TOOLS)
    run_document(doc, tmp_path, with_e2e=False)
