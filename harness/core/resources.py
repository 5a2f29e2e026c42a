"""Where bootproof's data files are: the installed ``bootproof.*`` data packages.

The board files (``qemu_configs/``), the bundled examples (``examples/``) and the guest
sources (``harness/guests/``) install as the packages ``bootproof.qemu_configs``,
``bootproof.examples`` and ``bootproof.harness.guests``. They are found through
:mod:`importlib.resources`, never relative to a source checkout, so a wheel installed
anywhere finds them, and an editable install finds the checkout's folders.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from bootproof.harness.core.errors import InfrastructureError

#: The data packages and what each holds.
QEMU_CONFIGS = "bootproof.qemu_configs"  # board TOML files, csr.csv/SVD, the Xen fragment
EXAMPLES = "bootproof.examples"  # the bundled Xen config, the CI sample project
GUESTS = "bootproof.harness.guests"  # C, assembly and linker scripts of the RV32 guests


def package_dir(package: str) -> Path:
    """The directory of the data package ``package`` on the file system.

    QEMU, the cross compiler and the generator need real paths, so a package imported from
    a zip archive is refused: raises :class:`InfrastructureError` naming the package (and
    ``ModuleNotFoundError`` when it is not installed at all).
    """
    root = importlib.resources.files(package)
    if not isinstance(root, Path) or not root.is_dir():
        raise InfrastructureError(
            f"the data package {package} is not a directory on the file system ({root}); "
            "install bootproof from a wheel or a source tree, not a zip archive")
    return root
