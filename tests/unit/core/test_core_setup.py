"""ci/setup.sh, second run: with a ready .venv and asset cache it installs and downloads
nothing (the README's promise).

The run happens in a network namespace with no interface but loopback (``unshare -n``), so
any download fails, and with a ``pip`` on PYTHONPATH that only fails, so running pip at all
(even a pip that would find everything in a local wheel cache) fails the run too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import require

REPO = Path(__file__).resolve().parents[3]


def _unshare_net() -> list[str]:
    """The prefix that runs a command without network: ``unshare -n`` as root, else
    ``unshare -rn`` (a user namespace). Skips locally, fails in CI, when neither works."""
    exe = shutil.which("unshare")
    require(exe is not None, "unshare (util-linux) is missing")
    assert exe is not None
    for prefix in ([exe, "-n"], [exe, "-rn"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return prefix
    require(False, "unshare cannot make a network namespace here (not root, no user "
                   "namespaces)")
    raise AssertionError("unreachable")


def test_second_run_installs_and_downloads_nothing(tmp_path: Path) -> None:
    venv_bootproof = REPO / ".venv" / "bin" / "bootproof"
    require(venv_bootproof.exists(), "no .venv in the repository: run ci/setup.sh first")
    ready = subprocess.run([str(venv_bootproof), "xen", "assets", "--offline", "--build-xen"],
                           capture_output=True, text=True, check=False)
    require(ready.returncode == 0, "the guest asset cache is not filled: run ci/setup.sh")
    prefix = _unshare_net()
    trap = tmp_path / "trap" / "pip"
    trap.mkdir(parents=True)
    (trap / "__init__.py").write_text("")
    (trap / "__main__.py").write_text(
        "import sys\nprint('pip was run:', sys.argv[1:], file=sys.stderr)\nsys.exit(97)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PYTHONPATH"] = str(trap.parent)
    r = subprocess.run([*prefix, "bash", str(REPO / "ci" / "setup.sh")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "pip was run" not in r.stderr
