"""The FIT of a dom0less boot: its ``.its`` text and the ``mkimage`` run that packs it.

One image per placed module (``host_kernel``, ``dom0_linux``, ``domU<i>_kernel``... as the
planner named them) plus the script as ``boot_scr``, and one configuration ``config``; with
``-k`` the images are signed and, with ``-u``, the public key goes into U-Boot's DTB.
``mkimage`` runs on a private copy in a temporary directory, so nothing is written beside
the inputs until the generator commits every output together.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bootproof.builder.errors import InputError
from bootproof.builder.formats import fit as fitfmt
from bootproof.builder.tools import run_tool
from bootproof.builder.xen.config import ImageBuilderConfig
from bootproof.builder.xen.plan import XenLayout

#: The FIT image type of each module role.
IMAGE_TYPES: Mapping[str, str] = {
    "xen": "kernel", "linux-kernel": "kernel", "dom0-kernel": "kernel",
    "domU-kernel": "kernel", "dom0-ramdisk": "ramdisk", "domU-ramdisk": "ramdisk",
    "linux-ramdisk": "ramdisk", "domU-dtb": "flat_dt", "dtb": "flat_dt",
    "bitstream": "fpga", "xen-policy": "firmware",
}
#: The roles Xen (not U-Boot) loads: the configuration lists them as loadables.
LOADABLE_ROLES = ("dom0-kernel", "dom0-ramdisk", "domU-kernel", "domU-ramdisk", "domU-dtb",
                  "xen-policy")


def its_name(fit_name: str) -> str:
    """The ``.its`` file written beside the FIT (``boot.fit`` -> ``boot.its``)."""
    return (fit_name[: -len(".fit")] if fit_name.endswith(".fit") else fit_name) + ".its"


def _signing(cfg: ImageBuilderConfig, root: Path) -> tuple[fitfmt.Signing | None, str | None]:
    """The ``-k KEYDIR/HINT`` signing set-up: (signing, key directory), or (None, None).

    Raises :class:`InputError` for a ``-k`` without a hint or a key file that is missing.
    """
    if not cfg.fit_enc_key_dir:
        return None, None
    keydir, _, hint = cfg.fit_enc_key_dir.rstrip("/").rpartition("/")
    if not hint:
        raise InputError("expected KEYDIR/HINT", field="-k", value=cfg.fit_enc_key_dir)
    keydir = keydir or "."
    key = root / keydir / f"{hint}.key"
    if not key.is_file():
        # mkimage 2023.01 only prints "Failed to sign" and still exits 0
        raise InputError("no private key to sign the FIT with", path=key, field="-k",
                         value=cfg.fit_enc_key_dir)
    return fitfmt.Signing(hint), keydir


def fit_images(cfg: ImageBuilderConfig, layout: XenLayout,
               resolve: Mapping[str, str] | None = None) -> list[fitfmt.FitImage]:
    """One FIT image per placed module, then the script as ``boot_scr``; ``resolve`` maps a
    file name to the path mkimage reads it from (default: the name itself)."""
    where = resolve or {}
    out = []
    for m in layout.modules:
        assert m.fit_name is not None
        is_exec = m.role in ("xen", "linux-kernel")
        out.append(fitfmt.FitImage(m.fit_name, where.get(m.file, m.file), IMAGE_TYPES[m.role],
                                   load=m.addr, entry=m.addr if is_exec else None))
    src = cfg.uboot_source or ""
    out.append(fitfmt.FitImage("boot_scr", where.get(src, src), "script",
                               load=layout.script_addr))
    return out


def fit_config(layout: XenLayout) -> fitfmt.FitConfig:
    """The FIT's one configuration: Xen (or Linux) and the host DTB, the modules Xen loads
    as loadables, the Linux ramdisk and the FPGA bitstream when there are any."""
    rd = layout.find("linux-ramdisk")
    fpga = layout.find("bitstream")
    return fitfmt.FitConfig(
        "config", kernel="host_kernel", fdt="host_fdt",
        ramdisk=rd.fit_name if rd is not None else None,
        loadables=tuple(m.fit_name for m in layout.modules
                        if m.fit_name and m.role in LOADABLE_ROLES),
        fpga=fpga.fit_name if fpga is not None else None,
    )


def build_fit(cfg: ImageBuilderConfig, layout: XenLayout, root: Path,
              outputs: Mapping[str, bytes], *, mkimage: str,
              timestamp: int) -> dict[str, bytes]:
    """Render the ``.its``, run ``mkimage`` on a private copy and return the outputs by
    name: the ``.its``, the FIT and, with ``-u``, U-Boot's DTB holding the public key.

    ``outputs`` are the generated files not written yet (the script source among them);
    ``timestamp`` is the FIT's ``SOURCE_DATE_EPOCH``. Raises :class:`InputError` for a bad
    ``-k`` and :class:`~bootproof.builder.errors.ToolError` when mkimage fails.
    """
    assert cfg.fit is not None and cfg.uboot_source is not None
    signing, keydir = _signing(cfg, root)
    conf = fit_config(layout)
    desc = "Xen dom0less boot" if cfg.xen_mode else "Linux boot"
    its = fitfmt.render_its(fit_images(cfg, layout), conf, description=desc, signing=signing)
    result = {its_name(cfg.fit): its.encode()}
    with tempfile.TemporaryDirectory(prefix="bootproof-fit-") as tmpname:
        tmp = Path(tmpname)
        resolve: dict[str, str] = {}
        for m in layout.modules:
            resolve[m.file] = str((root / m.file).resolve())
        for rel, data in outputs.items():  # generated files not written yet
            local = tmp / f"gen{len(resolve)}"
            local.write_bytes(data)
            resolve[rel] = str(local)
        tmp_its = tmp / "image.its"
        tmp_its.write_text(fitfmt.render_its(fit_images(cfg, layout, resolve), conf,
                                             description=desc, signing=signing))
        argv = [mkimage, "-q", "-f", str(tmp_its)]
        ub_copy = None
        if keydir is not None:
            argv += ["-k", str((root / keydir).resolve()), "-r"]
            if cfg.fit_enc_ub_dtb:
                ub_copy = tmp / "ub.dtb"
                shutil.copyfile(root / cfg.fit_enc_ub_dtb, ub_copy)
                argv += ["-K", str(ub_copy)]
        argv.append(str(tmp / "image.fit"))
        run_tool(argv, cwd=tmp, env={**os.environ, "SOURCE_DATE_EPOCH": str(timestamp)})
        result[cfg.fit] = (tmp / "image.fit").read_bytes()
        if ub_copy is not None and cfg.fit_enc_ub_dtb:
            result[cfg.fit_enc_ub_dtb] = ub_copy.read_bytes()
    return result
