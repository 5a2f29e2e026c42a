"""Run a command as an unprivileged user, so that a privileged step in it fails.

``disk_image`` promises to need no root: no mounts, loop devices, ``mknod``, ``chown`` or
privileged extended attributes. The tests keep that promise honest by running it as
``nobody`` (through ``setpriv``) when they themselves run as root, as CI does; run by
anyone else, the test process is unprivileged already and the command runs as it is.

The one capability kept is ``CAP_DAC_READ_SEARCH``: the interpreter of the test's
virtualenv may live where ``nobody`` cannot look (a home directory of mode 0700). It
lets the process read and search files; it grants no mount, device node, ownership,
extended-attribute or write permission, so a reintroduced privileged step still fails,
and the output directory must still be writable by ``nobody``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from conftest import require_tool

NOBODY = "nobody"
NOGROUP = "nogroup"


def _ids() -> tuple[int, int]:
    import grp
    import pwd

    return pwd.getpwnam(NOBODY).pw_uid, grp.getgrnam(NOGROUP).gr_gid


def rootless_prefix() -> list[str]:
    """The argv prefix that drops root (empty when the tests are not root)."""
    if os.geteuid() != 0:
        return []
    require_tool("setpriv")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOGROUP}", "--clear-groups",
            "--inh-caps=-all,+dac_read_search", "--ambient-caps=-all,+dac_read_search",
            "--bounding-set=-all,+dac_read_search"]


def writable_dir(path: Path) -> Path:
    """Make ``path`` (a fresh directory) writable by the user commands run as."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        uid, gid = _ids()
        os.chown(path, uid, gid)
    return path


def run_rootless(argv: Sequence[str | Path], *, cwd: Path,
                 check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` unprivileged in ``cwd``; stdout and stderr are captured as text."""
    env = {**os.environ, "LC_ALL": "C", "HOME": str(cwd)}
    return subprocess.run([*rootless_prefix(), *(str(a) for a in argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, check=check)
