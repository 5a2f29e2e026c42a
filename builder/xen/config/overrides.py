"""The command line over the config: ``-t``, ``-o``, ``-f``, ``-k``, ``-u``, as the reference
applies them after sourcing the config."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from bootproof.builder.xen.config.model import ImageBuilderConfig

#: ``-t`` (and ``LOAD_CMD``) aliases; any other text is the load command itself.
LOAD_CMD_ALIASES = MappingProxyType({
    "sd": "load mmc 0:1",
    "scsi": "load scsi 0:1",
    "usb": "fatload usb 0:1",
    "tftp": "tftpb",
})


def resolve_load_cmd(text: str) -> str:
    """Apply the ``-t`` aliases (sd, scsi, usb, tftp); anything else is used verbatim."""
    return LOAD_CMD_ALIASES.get(text, text)


def with_overrides(
    cfg: ImageBuilderConfig,
    *,
    load_cmd: str | None = None,
    output: str | None = None,
    fit: bool = False,
    key: str | None = None,
    ub_dtb: str | None = None,
) -> ImageBuilderConfig:
    """Apply the command-line overrides the way the reference does (``-t -o -f -k -u``)."""
    changes: dict[str, object] = {}
    if load_cmd is not None:
        changes["load_cmd"] = resolve_load_cmd(load_cmd)
    if output is not None:
        changes["uboot_script"] = f"{output}.scr"
        changes["uboot_source"] = f"{output}.source"
    if key is not None:
        changes["fit_enc_key_dir"] = key
    if ub_dtb is not None:
        changes["fit_enc_ub_dtb"] = ub_dtb
    out = replace(cfg, **changes)  # type: ignore[arg-type]
    if fit and out.fit is None:
        source = out.uboot_source or ""
        base = source[: -len(".source")] if source.endswith(".source") else source
        out = replace(out, fit=f"{base}.fit")
    if out.fit is not None and out.fdtedit is None and out.device_tree is not None:
        dt = out.device_tree
        stem = dt[: -len(".dtb")] if dt.endswith(".dtb") else dt
        out = replace(out, fdtedit=f"{stem}-fit.dtb")
    return out
