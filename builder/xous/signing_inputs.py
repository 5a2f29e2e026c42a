"""What signing and sealing take from the command line: keys, commit, version, anti-rollback.

The Xous tools read these from the working directory when they are not given:
``devkey/dev.key`` (the developer key), ``git rev-parse HEAD`` (the swap nonce),
``git describe`` (the version record) and ``./signing/anti-rollback.hjson``. Here:

* the signing key defaults to the developer key built in (the same bytes as xous-core's
  ``devkey/dev.key``; a signature by it proves nothing, see
  :mod:`bootproof.builder.xous.keys`);
* the commit and the version come from ``git`` in the working directory unless
  ``--git-rev``/``--git-describe`` give them (what reproducible builds should do);
* the anti-rollback value comes from ``--antirollback-override`` or, as in the reference,
  from ``signing/anti-rollback.hjson`` relative to the working directory.

Every function raises :class:`~bootproof.builder.errors.InputError` naming the option
and the value (or the file) it could not use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bootproof.builder import ed25519
from bootproof.builder.errors import InputError, ToolError
from bootproof.builder.numbers import parse_int
from bootproof.builder.tools import run_tool
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
from bootproof.builder.xous.semver import SemVer
from bootproof.builder.xous.swap_image import KEY_LEN

#: Where the reference reads anti-rollback values from (relative to the working directory).
ANTI_ROLLBACK_FILE = Path("signing") / "anti-rollback.hjson"
DEVELOPER_KEY_NAME = "the developer key (built in; xous-core's devkey/dev.key)"
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}")


def _read(path: str | Path, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the key file ({exc.strerror})", path=path,
                         field=option) from exc


def signing_seed(path: str | Path | None, option: str) -> tuple[bytes, str]:
    """The Ed25519 seed of the PKCS#8 PEM key at ``path``, or of the developer key when
    None, and a description of the key for the report."""
    if path is None:
        return ed25519.seed_from_pem(DEVELOPER_KEY_PEM), DEVELOPER_KEY_NAME
    return ed25519.seed_from_pem(_read(path, option), path=path), str(path)


def public_key(spec: str, option: str = "--key") -> bytes:
    """A public key given as 64 hex digits, or a file: a PEM ``PUBLIC KEY`` or
    ``PRIVATE KEY`` (its public half), or the 32 raw bytes."""
    if _HEX_KEY.fullmatch(spec):
        return bytes.fromhex(spec)
    data = _read(spec, option)
    if len(data) == ed25519.PUBLIC_KEY_LEN:
        return data
    return ed25519.public_from_pem(data, path=spec)


def aes_key(spec: str | None, option: str = "--decrypt-key") -> bytes | None:
    """A 32-byte AES-256 key: 64 hex digits, or a file holding the 32 bytes (or their 64
    hex digits). None when ``spec`` is None."""
    if spec is None:
        return None
    if _HEX_KEY.fullmatch(spec):
        return bytes.fromhex(spec)
    data = _read(spec, option)
    if len(data) == KEY_LEN:
        return data
    text = data.strip()
    if _HEX_KEY.fullmatch(text.decode("ascii", errors="replace")):
        return bytes.fromhex(text.decode("ascii"))
    raise InputError("an AES-256 key is 32 bytes (or 64 hex digits)", path=spec,
                     field=option, value=len(data))


def _git(argv: list[str], option: str) -> str:
    try:
        return run_tool(argv).stdout
    except ToolError as exc:
        raise InputError(f"`{' '.join(argv)}` failed in the working directory ({exc}); "
                         f"give {option}", field=option) from exc


def commit_hash(rev: str | None) -> str:
    """``--git-rev`` as given, else the output of ``git rev-parse HEAD`` (as the reference
    takes it: only trailing newlines are stripped later)."""
    return rev if rev is not None else _git(["git", "rev-parse", "HEAD"], "--git-rev")


def parse_version(text: str, option: str) -> SemVer:
    """``text`` as a version record; InputError naming ``option`` and the text."""
    try:
        return SemVer.parse(text)
    except InputError as exc:
        raise InputError(exc.message, field=option, value=text) from exc


def version(describe: str | None) -> SemVer:
    """``--git-describe`` parsed as a version record, else ``git describe`` (xous-semver
    0.1.5 no longer passes ``--tags``)."""
    text = describe if describe is not None else _git(["git", "describe"], "--git-describe")
    return parse_version(text, "--git-describe")


def anti_rollback(function: str, override: str | None, *,
                  hjson: Path = ANTI_ROLLBACK_FILE) -> int:
    """``--antirollback-override`` (a 32-bit number), else ``function``'s value in
    ``hjson`` (the reference reads ``./signing/anti-rollback.hjson``; there is no
    default when it is missing)."""
    if override is not None:
        value = parse_int(override, field="--antirollback-override")
        if value > 0xFFFF_FFFF:
            raise InputError("does not fit 32 bits", field="--antirollback-override",
                             value=override)
        return value
    try:
        text = hjson.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"cannot read the anti-rollback table ({reason}); run in a "
                         "xous-core tree or give --antirollback-override", path=hjson,
                         field="anti-rollback") from exc
    return anti_rollback_from_hjson(text, function, path=hjson)


def anti_rollback_from_hjson(text: str, function: str, *,
                             path: str | Path | None = None) -> int:
    """The anti-rollback value of ``function`` from ``signing/anti-rollback.hjson``.

    As the signer reads it: everything from ``//`` to the end of a line is deleted, the
    rest must be a JSON object of decimal strings. InputError (file, key named) if it is
    not, or if ``function`` is missing: there is no default.
    """
    stripped = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    try:
        table = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON once // comments are removed ({exc.msg}, line "
                         f"{exc.lineno})", path=path, field="anti-rollback") from exc
    if not isinstance(table, dict):
        raise InputError("must be an object of function name to value", path=path,
                         field="anti-rollback", value=type(table).__name__)
    if function not in table:
        raise InputError("no anti-rollback value for this function", path=path,
                         field=function)
    value = table[function]
    if not isinstance(value, str) or not re.fullmatch(r"\+?[0-9]+", value) or \
            int(value) > 0xFFFF_FFFF:
        raise InputError("must be a string holding a decimal 32-bit number", path=path,
                         field=function, value=value)
    return int(value)
