"""The documentation's boot commands (``sh e2e`` blocks, tests/docblocks.py) run and pass.

Each document with such blocks is run whole, in order: its ``sh`` blocks make the inputs
(as in tests/unit/docs), its ``sh e2e`` blocks boot them under QEMU, its ``sh pty`` and
``sh gdb`` blocks boot with ``--interactive`` and ``--gdb`` and are used as a person would
(tests/docboots.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool
from docblocks import BOOT_KINDS, REPO, TOOLS, blocks, documents, run_document

pytestmark = pytest.mark.e2e

BOOTING = [d for d in documents() if any(b.kind in BOOT_KINDS for b in blocks(d))]


@pytest.mark.parametrize("doc", BOOTING, ids=lambda p: str(p.relative_to(REPO)))
def test_document_boot_commands_pass(doc: Path, tmp_path: Path) -> None:
    require_tool(*TOOLS, "qemu-system-riscv32", "mkimage", "gdb-multiarch")
    done = run_document(doc, tmp_path, with_e2e=True)
    assert any(b.kind in BOOT_KINDS for b in done)
