"""Run records: what it takes to re-run one boot, kept next to its serial log.

Every QEMU boot leaves two more files beside ``<name>.serial.log`` (named after the machine,
like the log, since several machines may share a log directory):

* ``<name>.repro.sh``: a POSIX shell script that re-runs the boot with no Python. It goes to
  the directory the harness ran in, checks that the input files still have the recorded
  SHA-256 (``BOOTPROOF_REPRO_NOCHECK=1`` skips that), sets the environment that matters to
  QEMU and runs QEMU's exact argument list, with two changes: the QMP socket (a descriptor
  only the harness had) is left out, and the console's ``signal=off`` becomes ``signal=on``
  so that Ctrl-C stops QEMU. What the harness typed on the console (U-Boot's command line...)
  is piped in first, then the script's own standard input follows (``--no-type`` runs QEMU
  on the terminal instead, typing nothing). Its comments name the bootproof command that
  made it, the files it needs and what was typed.
* ``<name>.run.json``: the run record (format :data:`FORMAT`): the command, the inputs with
  their SHA-256, the versions of QEMU, bootproof and, where the flow knows them, U-Boot, Xen
  and Linux, each stage with its time stamp, the verdict and the failure class.

A boot flow makes a :class:`RunRecord`, hands it to
:class:`~bootproof.harness.core.machine.QemuMachine` (which fills in the command line, typed
input and exit status and writes the script at launch) and wraps its checks in
:meth:`RunRecord.judging`, which writes the record and names both files in the error of a
failed boot. A machine used without a flow keeps a record of its own (verdict ``ended``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import gzip
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bootproof.harness.core.cache import cache_root
from bootproof.harness.core.console import TypedInput
from bootproof.harness.core.errors import (
    BadPattern,
    BootFailure,
    BootTimeout,
    HarnessError,
    InfrastructureError,
    LayoutMismatch,
    UnexpectedExit,
)
from bootproof.harness.core.stages import Stage

FORMAT = "bootproof-run-record/1"

#: Variables kept in the record when set: QEMU reads TMPDIR (``-snapshot`` files) and its own
#: QEMU_* settings; the locale and time zone change what it prints; the bootproof ones
#: changed how the harness judged the boot. The script exports those QEMU can see.
ENV_PREFIXES = ("QEMU_", "BOOTPROOF_")
ENV_NAMES = ("TMPDIR", "LANG", "LC_ALL", "TZ", "SOURCE_DATE_EPOCH")
_FOR_QEMU = ("QEMU_", "TMPDIR", "LANG", "LC_ALL", "TZ")

#: QEMU options whose value is a file the boot reads, and the ``key=`` inside option values
#: that name one (``-device loader,file=X``, ``-drive file=X``, ``-netdev user,tftp=DIR``).
_FILE_OPTIONS = ("-kernel", "-bios", "-initrd", "-dtb", "-pflash")
_FILE_KEYS = ("file", "tftp", "romfile")

#: Failure classes (after LAVA's taxonomy): the error type decides which.
_FAILURE_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (InfrastructureError, "infrastructure"),
    (BootTimeout, "timeout"),
    (BadPattern, "bad-pattern"),
    (UnexpectedExit, "unexpected-exit"),
    (LayoutMismatch, "layout-mismatch"),
    (BootFailure, "boot-failure"),
    (KeyboardInterrupt, "interrupted"),
)


def failure_kind(exc: BaseException) -> str:
    """The failure class of ``exc``: ``infrastructure``, ``timeout``, ``bad-pattern``,
    ``unexpected-exit``, ``layout-mismatch``, ``boot-failure``, ``interrupted``, ``input``
    (a bootproof input or configuration error), ``tool`` or ``harness-bug`` (anything else)."""
    from bootproof.builder.errors import InputError, ToolError

    for cls, kind in _FAILURE_KINDS:
        if isinstance(exc, cls):
            return kind
    if isinstance(exc, InputError):
        return "input"
    if isinstance(exc, ToolError):
        return "tool"
    return "harness-bug"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (raises OSError)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class InputFile:
    """One file a boot read: what it is for, its absolute path, SHA-256 and size (both None
    for a directory or a file that could not be read)."""

    role: str
    path: Path
    sha256: str | None
    size: int | None

    @classmethod
    def of(cls, role: str, path: Path) -> InputFile:
        """Describe ``path`` as it is now."""
        full = path.absolute()
        try:
            if full.is_file():
                return cls(role, full, sha256_of(full), full.stat().st_size)
        except OSError:
            pass
        return cls(role, full, None, None)

    def to_json(self) -> dict[str, object]:
        return {"role": self.role, "path": str(self.path), "sha256": self.sha256,
                "size": self.size}


def argv_inputs(argv: Sequence[str]) -> list[tuple[str, str]]:
    """The files (and TFTP directories) a QEMU command line names, as (role, path) pairs in
    command-line order: the values of ``-kernel``, ``-bios``, ``-initrd``, ``-dtb`` and
    ``-pflash``, and the ``file=``, ``tftp=`` and ``romfile=`` keys of option values. Only
    paths that exist count (``-bios none`` and ``romfile=`` name no file)."""
    out: list[tuple[str, str]] = []
    for i, arg in enumerate(argv[1:], start=1):
        prev = argv[i - 1]
        if prev in _FILE_OPTIONS:
            if os.path.exists(arg):
                out.append((prev, arg))
            continue
        if not prev.startswith("-") or "=" not in arg:
            continue
        # QEMU option syntax: key=value pairs split at commas, a doubled comma is literal
        for part in re.split(r"(?<!,),(?!,)", arg):
            key, sep, value = part.partition("=")
            value = value.replace(",,", ",")
            if sep and key in _FILE_KEYS and value and os.path.exists(value):
                out.append((f"{prev} {key}=", value))
    return out


# -- versions ----------------------------------------------------------------------------------


def _facts_dir() -> Path:
    return cache_root() / "facts"


def _cached_fact(key: str, compute: Any) -> str | None:
    """A fact about a file, kept in the cache under ``key`` (which must identify the file's
    content); ``compute()`` runs when it is not there. Cache trouble only costs the lookup."""
    path = _facts_dir() / key
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8").strip() or None
    value = compute()
    if value:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(value + "\n", encoding="utf-8")
            os.replace(tmp, path)
    return value if value else None


@functools.lru_cache(maxsize=8)
def _qemu_version(binary: str, mtime_ns: int, size: int) -> str | None:
    def ask() -> str | None:
        try:
            r = subprocess.run([binary, "--version"], capture_output=True, text=True,
                               timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r"version (\S+(?: \([^)]*\))?)", r.stdout)
        return m.group(1) if m else None

    key = hashlib.sha256(f"{binary}\0{mtime_ns}\0{size}".encode()).hexdigest()[:32]
    return _cached_fact(f"qemu-version-{key}", ask)


def qemu_version(binary: str | Path) -> str | None:
    """What ``binary --version`` says (e.g. ``7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)``);
    None when it cannot be run. Kept in the cache per binary, size and modification time."""
    try:
        st = Path(binary).stat()
    except OSError:
        return None
    return _qemu_version(str(binary), st.st_mtime_ns, st.st_size)


def version_in_file(path: Path, regex: bytes, *, sha256: str | None = None) -> str | None:
    """The first match of ``regex`` (its group 1) in the bytes of ``path``, gunzipped first
    when the file is gzip; None when there is no match or the file cannot be read. Kept in
    the cache by content (``sha256``, computed when not given).

    Used for version strings that binaries carry: U-Boot's ``U-Boot 2023.01...`` banner,
    Linux's ``Linux version ...``.
    """
    pattern = re.compile(regex)

    def scan() -> str | None:
        try:
            with path.open("rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            tail = b""
            with gzip.open(path, "rb") if gz else path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    buf = tail + chunk
                    m = pattern.search(buf)
                    if m is not None and m.end() < len(buf):
                        return m.group(1).decode("ascii", "replace")
                    tail = buf[-512:]
                m = pattern.search(tail)
                return m.group(1).decode("ascii", "replace") if m else None
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
            return None

    try:
        digest = sha256 or sha256_of(path)
    except OSError:
        return None
    key = hashlib.sha256(regex + b"\0" + digest.encode()).hexdigest()[:32]
    return _cached_fact(f"version-{key}", scan)


@functools.lru_cache(maxsize=1)
def bootproof_version() -> str:
    """The installed bootproof version, plus the git commit when running from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("bootproof")
    except PackageNotFoundError:
        text = "unknown"
    commit = _git_commit(Path(__file__).resolve().parents[2])
    return f"{text} (git {commit})" if commit else text


def _git_commit(repo: Path) -> str | None:
    """HEAD's commit of a git checkout, read from ``.git`` (no git process); None otherwise."""
    git = repo / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12] or None
        ref = head[5:]
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        return None
    return None


def invocation() -> str:
    """How this process was started, for the script's comment: the bootproof command line
    (``bootproof xous boot ...``), or the pytest test running now, or Python's argv."""
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        return "pytest " + shlex.quote(test.rsplit(" (", 1)[0])
    prog = Path(sys.argv[0]).name if sys.argv else "python"
    if prog in ("bootproof", "create-image", "uboot-script-gen", "disk_image"):
        return shlex.join([prog, *sys.argv[1:]])
    return shlex.join(["python", *sys.argv]) if sys.argv else "python"


def relevant_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ``environ`` (default: this process's) that matter to a boot."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items())
            if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


# -- the script --------------------------------------------------------------------------------

_CONSOLE_SIGNAL_RE = re.compile(r"^(stdio,id=bpcon(?:,.*)?),signal=off((?:,.*)?)$")


def replay_argv(full_argv: Sequence[str]) -> list[str]:
    """The command line ``repro.sh`` runs: the harness's, minus the QMP channel (a
    socket descriptor the harness owned: ``-chardev socket,id=bpqmp,fd=N`` and its ``-mon``),
    with the console's ``signal=off`` turned on (Ctrl-C stops QEMU)."""
    out: list[str] = []
    i = 0
    while i < len(full_argv):
        arg = full_argv[i]
        nxt = full_argv[i + 1] if i + 1 < len(full_argv) else ""
        if arg == "-chardev" and nxt.startswith("socket,id=bpqmp,"):
            i += 2
            continue
        if arg == "-mon" and nxt.startswith("chardev=bpqmp,"):
            i += 2
            continue
        if arg == "-chardev":
            m = _CONSOLE_SIGNAL_RE.match(nxt)
            if m:
                out += [arg, f"{m.group(1)},signal=on{m.group(2)}"]
                i += 2
                continue
        out.append(arg)
        i += 1
    return out


def printf_format(text: str) -> str:
    """``text`` as a shell-quoted ``printf`` format that prints exactly its UTF-8 bytes."""
    out = []
    for i, byte in enumerate(text.encode("utf-8")):
        ch = chr(byte)
        # a leading "-" would be read as an option
        if byte < 0x20 or byte >= 0x7F or ch in "\\%'" or (i == 0 and ch == "-"):
            out.append(f"\\{byte:03o}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _argv_lines(argv: Sequence[str]) -> str:
    """``argv`` shell-quoted, one option (with its value) per continued line."""
    groups: list[list[str]] = [[argv[0]]]
    for arg in argv[1:]:
        if arg.startswith("-") or len(groups[-1]) > 1 or len(groups) == 1:
            groups.append([arg])
        else:
            groups[-1].append(arg)
    return " \\\n    ".join(" ".join(shlex.quote(a) for a in g) for g in groups)


def _comment(text: str) -> str:
    return " ".join(text.split()).replace("\n", " ")


def repro_script(
    argv: Sequence[str],
    *,
    cwd: Path,
    inputs: Sequence[InputFile],
    typed: Sequence[TypedInput],
    command: str,
    environment: Mapping[str, str],
    qemu_version: str | None,
    record_name: str,
) -> str:
    """The text of ``repro.sh`` (see the module docstring). ``argv`` is what QEMU runs
    (:func:`replay_argv`), ``typed`` what the harness wrote to the console, in order, each
    typed once the console has shown what the harness saw before typing it."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# Re-runs one boot exactly as bootproof ran it, without Python.",
        f"# Made by:   {_comment(command)}",
        f"# Record:    {record_name} (inputs with SHA-256, versions, stages, verdict)",
        f"# QEMU:      {argv[0]} {qemu_version or '(version unknown)'}",
        "#",
        "# The guest's serial console is this script's standard input and output. QEMU's",
        "# command line is the harness's, without its QMP socket and with Ctrl-C enabled.",
    ]
    if inputs:
        lines += ["#", "# Files it needs (the SHA-256 check below fails if one changed;",
                  "# BOOTPROOF_REPRO_NOCHECK=1 skips it):"]
        width = max(len(f.role) for f in inputs)
        lines += [f"#   {f.role:<{width}}  {f.path}" + ("/" if f.sha256 is None else "")
                  for f in inputs]
    if typed:
        lines += ["#", "# What bootproof typed on the console, in order, each once the console",
                  "# showed the text after which the harness typed it; then your own input",
                  "# follows, a line at a time (after QEMU exits, press Enter to end the",
                  "# script). `--no-type` runs QEMU on your terminal and types nothing:"]
        lines += [f"#   {t.text!r}" + (f" after {t.after!r}" if t.after else "")
                  for t in typed]
    lines += ["", "set -eu", f"cd {q(str(cwd))}"]
    lines += [f"export {k}={q(v)}" for k, v in environment.items() if k.startswith(_FOR_QEMU)]
    checked = [f for f in inputs if f.sha256 is not None]
    if checked:
        lines += [
            'if [ -z "${BOOTPROOF_REPRO_NOCHECK:-}" ]; then',
            "    if ! sha256sum --quiet --check <<'EOF'",
            *[f"{f.sha256}  {f.path}" for f in checked],
            "EOF",
            "    then",
            '        echo "repro.sh: an input differs from the recorded boot'
            ' (BOOTPROOF_REPRO_NOCHECK=1 runs anyway)" >&2',
            "        exit 2",
            "    fi",
            "fi",
        ]
    if qemu_version:
        lines += [
            f"case \"$({q(argv[0])} --version 2>/dev/null | head -n 1)\" in",
            f"    *{q(qemu_version)}*) ;;",
            f"    *) echo \"repro.sh: note: the boot was recorded with QEMU {qemu_version}\""
            " >&2 ;;",
            "esac",
        ]
    qemu = _argv_lines(argv)
    if not typed:
        lines.append(f"exec {qemu}")
        return "\n".join(lines) + "\n"
    lines += [
        'if [ "${1:-}" = --no-type ]; then',
        "    exec " + qemu.replace("\n", "\n    "),
        "fi",
        'log=$(mktemp "${TMPDIR:-/tmp}/repro-console.XXXXXX")',
        'status=$(mktemp "${TMPDIR:-/tmp}/repro-status.XXXXXX")',
        'trap \'rm -f "$log" "$status"\' EXIT',
        "trap 'exit 130' INT",
        "trap 'exit 143' TERM HUP",
        "# wait_for N TEXT: until TEXT is on N lines of the console (at most 10 minutes)",
        "wait_for() {",
        "    tries=0",
        '    while [ "$(grep -caF -- "$2" "$log" || true)" -lt "$1" ]; do',
        "        tries=$((tries + 1))",
        '        if [ "$tries" -gt 3000 ]; then',
        '            echo "repro.sh: the console never showed $2; not typing the rest" >&2',
        "            exec cat",
        "        fi",
        "        sleep 0.2",
        "    done",
        "}",
        "{",
    ]
    for t in typed:
        if t.after:
            lines.append(f"    wait_for {t.seen} {q(t.after)}")
        lines.append(f"    printf {printf_format(t.text)}")
    lines += [
        "    exec cat",
        "} | {",
        "    if " + qemu.replace("\n", "\n    ") + "; then",
        '        echo 0 > "$status"',
        "    else",
        '        echo "$?" > "$status"',
        "    fi",
        '} | tee "$log"',
        'exit "$(cat "$status")"',
    ]
    return "\n".join(lines) + "\n"


# -- the record --------------------------------------------------------------------------------


class RunRecord:
    """Everything known about one boot, written as ``<name>.run.json`` and ``<name>.repro.sh``
    in ``log_dir``.

    The flow adds inputs (:meth:`add_input`), versions (:attr:`versions`) and stages
    (:meth:`add_stage`); the machine reports its launch and exit (:meth:`launched`,
    :meth:`stopped`); :meth:`judging` (or :meth:`finish`) writes the record.
    """

    def __init__(self, log_dir: Path, name: str, *, command: str | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.name = name
        self.command = command if command is not None else invocation()
        self.repro_path = self.log_dir / f"{name}.repro.sh"
        self.record_path = self.log_dir / f"{name}.run.json"
        self.cwd = Path.cwd()
        self.environment = relevant_environment()
        self.inputs: list[InputFile] = []
        self.versions: dict[str, str | None] = {"bootproof": bootproof_version()}
        self.stages: list[dict[str, object]] = []
        self.extra: dict[str, object] = {}
        self.argv: list[str] = []
        self.typed: list[TypedInput] = []
        self.pid: int | None = None
        self.exit_status: int | None = None
        self.started: str | None = None
        self.ended: str | None = None
        #: running (QEMU started), ended (stopped, nobody judged), passed or failed
        self.verdict = "not started"
        self.failure: dict[str, object] | None = None

    @property
    def files(self) -> dict[str, Path]:
        """The files a failure message names: the repro script and the run record."""
        return {"repro script": self.repro_path, "run record": self.record_path}

    def add_input(self, role: str, path: Path) -> None:
        """Record a file (or directory) the boot reads, hashed now. A path recorded again
        gets the new role added (one kernel for several domains)."""
        full = Path(path).absolute()
        for i, known in enumerate(self.inputs):
            if known.path == full:
                if role not in known.role.split(", "):
                    self.inputs[i] = replace(known, role=f"{known.role}, {role}")
                return
        self.inputs.append(InputFile.of(role, full))

    def add_stage(self, stage: Stage) -> None:
        """Record a stage that just passed (time-stamped now)."""
        self.stages.append({"name": stage.name, "seconds": round(stage.seconds, 3),
                            "time": _now(), "detail": stage.detail})

    def launched(self, full_argv: Sequence[str], pid: int) -> None:
        """QEMU started with ``full_argv``: note it, hash the files it names, write the
        script and the record (verdict ``running``), so that a harness killed mid-boot still
        leaves both."""
        self.argv = list(full_argv)
        self.pid = pid
        self.started = _now()
        known = {f.path for f in self.inputs}
        for role, path in argv_inputs(full_argv):
            if Path(path).absolute() not in known:  # the flow's own role names win
                self.add_input(role, Path(path))
        self.versions.setdefault("qemu", qemu_version(full_argv[0]))
        self.verdict = "running"
        self.write_script()
        self.write()

    def stopped(self, exit_status: int | None, typed: Sequence[TypedInput]) -> None:
        """QEMU is gone: note its status and what the harness typed (the script is written
        again when something was typed)."""
        self.exit_status = exit_status
        self.ended = _now()
        if self.verdict == "running":
            self.verdict = "ended"
        if list(typed) != self.typed:
            self.typed = list(typed)
            self.write_script()

    def write_script(self) -> None:
        """Write ``<name>.repro.sh`` (executable) for the command line launched."""
        if not self.argv:
            return
        text = repro_script(
            replay_argv(self.argv), cwd=self.cwd, inputs=self.inputs, typed=self.typed,
            command=self.command, environment=self.environment,
            qemu_version=self.versions.get("qemu"), record_name=self.record_path.name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.repro_path.with_name(f".{self.repro_path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, self.repro_path)

    def to_json(self) -> dict[str, object]:
        """The record as JSON data (format :data:`FORMAT`)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "command": self.command,
            "cwd": str(self.cwd),
            "started": self.started,
            "ended": self.ended,
            "verdict": self.verdict,
            "failure": self.failure,
            "versions": dict(self.versions),
            "inputs": [f.to_json() for f in self.inputs],
            "environment": dict(self.environment),
            "qemu": {"argv": self.argv, "pid": self.pid, "exit_status": self.exit_status},
            "typed": [{"text": t.text, "after": t.after, "seen": t.seen} for t in self.typed],
            "stages": self.stages,
            "files": {"serial_log": f"{self.name}.serial.log",
                      "qemu_stderr": f"{self.name}.stderr.log",
                      "repro": self.repro_path.name},
            **self.extra,
        }

    def finish(self, error: BaseException | None) -> None:
        """Set the verdict (``passed``, or ``failed`` with the failure class of ``error``)
        and write ``<name>.run.json``."""
        if error is None:
            self.verdict, self.failure = "passed", None
        else:
            self.verdict = "failed"
            self.failure = {"class": type(error).__name__, "kind": failure_kind(error),
                            "exit_code": getattr(error, "exit_code", None),
                            "message": str(error).split("\n", 1)[0]}
        self.write()

    def write(self) -> None:
        """Write ``<name>.run.json`` as it stands."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_name(f".{self.record_path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.record_path)

    @contextlib.contextmanager
    def judging(self) -> Iterator[RunRecord]:
        """``with record.judging():`` around a boot's checks: on the way out the record is
        written with the verdict; a failure's message names the script and the record
        (:meth:`HarnessError.name_files`; other exceptions get a note) and propagates."""
        try:
            yield self
        except BaseException as exc:
            self.finish(exc)
            if isinstance(exc, HarnessError):
                exc.name_files(self.files)
            elif isinstance(exc, Exception):
                exc.add_note(f"repro script: {self.repro_path}\nrun record: {self.record_path}")
            raise
        self.finish(None)
