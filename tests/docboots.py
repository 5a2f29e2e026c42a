"""How the e2e doc test runs the documents' ``sh pty`` and ``sh gdb`` blocks (see
tests/docblocks.py): as a person would, in a pseudo-terminal or with gdb-multiarch."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pexpect
from procread import read_line

from bootproof.harness.core.deadline import timeout_multiplier
from bootproof.harness.core.handover import ESCAPE

if TYPE_CHECKING:
    from docblocks import Block

#: Seconds for a boot to reach its hand-over (scaled by the timeout multiplier).
BOOT_SECONDS = 600


def run_pty_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    """Run the block's ``--interactive`` command in a pseudo-terminal: wait for the
    hand-over, type a sum, read its answer, leave with Ctrl-], want exit status 0."""
    seconds = BOOT_SECONDS * timeout_multiplier()
    child = pexpect.spawn("bash", ["-euo", "pipefail", "-c", block.text], cwd=str(cwd),
                          env=env, encoding="utf-8", codec_errors="replace", timeout=seconds,
                          dimensions=(40, 200))
    try:
        child.expect(r"console of QEMU \(pid \d+\) is yours")
        child.send("echo $((6 * 7))\r")
        child.expect(r"\r\n42\r\n", timeout=60 * timeout_multiplier())  # not what was typed
        child.send(ESCAPE)
        child.expect(pexpect.EOF, timeout=60 * timeout_multiplier())
    except pexpect.ExceptionPexpect as exc:
        raise AssertionError(f"{block.where}: {type(exc).__name__}\n{block.text}"
                             f"--- output\n{(child.before or '')[-4000:]}") from exc
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, f"{block.where}: exit {child.exitstatus}\n{child.before}"


def run_gdb_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    """Run the block's ``--gdb`` command, attach the printed gdb-multiarch command in batch
    mode (print the PC at reset, detach: the guest runs on), want the boot's status 0."""
    seconds = BOOT_SECONDS * timeout_multiplier()
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block.text], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = read_line(proc, r"^  gdb-multiarch ", 120 * timeout_multiplier())
        gdb = subprocess.run([*shlex.split(line), "-batch", "-ex",
                              'printf "reset pc 0x%x\\n", $pc', "-ex", "detach"],
                             cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=120 * timeout_multiplier(), check=False)
        assert gdb.returncode == 0 and "reset pc 0x" in gdb.stdout, \
            f"{block.where}: gdb failed\n{gdb.stdout}\n{gdb.stderr}"
        out, _ = proc.communicate(timeout=seconds)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"{block.where}: exit {proc.returncode}\n{out.decode()[-4000:]}"
