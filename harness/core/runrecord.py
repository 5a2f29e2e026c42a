"""Run records: what it takes to re-run one boot, kept next to its serial log.

Every QEMU boot leaves two more files beside ``<name>.serial.log`` (named after the machine,
like the log, since several machines may share a log directory):

* ``<name>.repro.sh``: a POSIX shell script that re-runs the boot with no Python. It goes to
  the directory the harness ran in, checks that the input files still have the recorded
  SHA-256 (``BOOTPROOF_REPRO_NOCHECK=1`` skips that), sets the environment that matters to
  QEMU and runs QEMU's exact argument list, with these changes: the QMP socket (a
  descriptor only the harness had) is left out, the console's ``signal=off`` becomes
  ``signal=on`` so that Ctrl-C stops QEMU, and a machine state QEMU loads from a descriptor
  (``-incoming fd:N``) is opened by the script as descriptor 3. What the harness typed on
  the console (U-Boot's command line...) is piped in first, then the script's own standard
  input follows (``--no-type`` runs QEMU on the terminal instead, typing nothing). Its
  comments name the bootproof command that made it, the files it needs and what was typed.
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
import json
import os
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

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
from bootproof.harness.core.inputfiles import InputFile, argv_inputs
from bootproof.harness.core.reproscript import replay_argv, repro_script
from bootproof.harness.core.stages import Stage
from bootproof.harness.core.versions import bootproof_version, qemu_version

FORMAT = "bootproof-run-record/1"

#: Variables kept in the record when set: QEMU reads TMPDIR (``-snapshot`` files) and its own
#: QEMU_* settings; the locale and time zone change what it prints; the bootproof ones
#: changed how the harness judged the boot. The script exports those QEMU can see.
ENV_PREFIXES = ("QEMU_", "BOOTPROOF_")
ENV_NAMES = ("TMPDIR", "LANG", "LC_ALL", "TZ", "SOURCE_DATE_EPOCH")

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
        self.incoming: Path | None = None
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

    def add_input_file(self, known: InputFile) -> None:
        """Record a file described (hashed) elsewhere; the script is written again when
        QEMU is already running, so that its check covers the file."""
        self.inputs.append(known)
        if self.argv:
            self.write_script()

    def add_stage(self, stage: Stage) -> None:
        """Record a stage that just passed (time-stamped now)."""
        self.stages.append({"name": stage.name, "seconds": round(stage.seconds, 3),
                            "time": _now(), "detail": stage.detail})

    def launched(self, full_argv: Sequence[str], pid: int, *,
                 incoming: Path | None = None) -> None:
        """QEMU started with ``full_argv`` (loading the machine state ``incoming``, if given,
        from ``-incoming fd:N``): note it, hash the files it names, write the script and the
        record (verdict ``running``), so that a harness killed mid-boot still leaves both."""
        self.argv = list(full_argv)
        self.incoming = None if incoming is None else Path(incoming).absolute()
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
            replay_argv(self.argv), cwd=self.cwd, incoming=self.incoming,
            inputs=self.inputs, typed=self.typed,
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
            "qemu": {"argv": self.argv, "pid": self.pid, "exit_status": self.exit_status,
                     "incoming": None if self.incoming is None else str(self.incoming)},
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
