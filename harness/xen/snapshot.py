"""Boot once, test many: a booted Xen system saved to a directory and resumed from it.

A snapshot is taken at the end of a verified boot (:func:`snapshot_steps`, the ``at_end``
steps of :func:`bootproof.harness.xen.flow.run_boot`): once every stage passed, dom0's
shell must answer a command ("dom0 shell ready", skipped when there is no dom0), then the
machine's whole state goes to ``DIR/machine.state``
(:func:`bootproof.harness.core.machinestate.save_state`) and ``DIR/snapshot.json`` records
what a resume needs:

* QEMU's command line (board, U-Boot, the TFTP directory, the disk): a resumed QEMU must
  have the same machine and devices;
* every file that command line and the boot script read (U-Boot, the TFTP files, the
  disk), with its SHA-256: a resume refuses files that changed since;
* QEMU's version, each domain's id by label (``dom0``, ``domU0``...) and which domain had
  the serial input.

:class:`ResumedXen` starts a new QEMU from the snapshot (``-incoming``) and runs commands
in the domains' shells (:class:`~bootproof.harness.xen.shells.DomainShells`). Every resume
starts from the same saved state: what one resumed system writes is gone in the next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType

from bootproof.builder.errors import InputError
from bootproof.builder.fileio import atomic_write
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.inputfiles import InputFile
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.core.machinestate import await_resumed, save_state
from bootproof.harness.core.runrecord import RunRecord
from bootproof.harness.core.stages import Stage, StageCallback
from bootproof.harness.xen.flow import MachineStep
from bootproof.harness.xen.generated import Generated
from bootproof.harness.xen.parsers import XEN_KERNEL_RE, bad_patterns
from bootproof.harness.xen.shells import CommandResult, DomainShells

FORMAT = "bootproof-xen-snapshot/1"
STATE_FILE = "machine.state"
MANIFEST = "snapshot.json"
#: Seconds (scaled) a resume may take to load the state.
RESUME_TIMEOUT = 60.0


@dataclass(frozen=True)
class XenSnapshot:
    """A saved Xen system (see the module docstring); :meth:`read` loads one."""

    directory: Path
    argv: tuple[str, ...]
    inputs: tuple[InputFile, ...]
    domids: Mapping[str, int]
    serial_input: str
    qemu_version: str | None
    state_bytes: int
    save_seconds: float

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    def to_json(self) -> dict[str, object]:
        return {"format": FORMAT, "argv": list(self.argv),
                "inputs": [f.to_json() for f in self.inputs], "domids": dict(self.domids),
                "serial_input": self.serial_input, "qemu_version": self.qemu_version,
                "state_bytes": self.state_bytes, "save_seconds": round(self.save_seconds, 3)}

    def write(self) -> None:
        atomic_write(self.directory / MANIFEST, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> XenSnapshot:
        """The snapshot in ``directory``. Raises InputError naming the file and the field
        when it is missing, not a snapshot or incomplete."""
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no snapshot here (saved with --snapshot DIR?)",
                             path=path) from None
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the snapshot: {exc}", path=path) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"not a bootproof Xen snapshot (expected format {FORMAT})",
                             path=path, field="format",
                             value=data.get("format") if isinstance(data, dict) else data)
        try:
            snap = cls(
                directory=directory, argv=tuple(str(a) for a in data["argv"]),
                inputs=tuple(InputFile(str(f["role"]), Path(f["path"]), f["sha256"],
                                       f["size"]) for f in data["inputs"]),
                domids={str(k): int(v) for k, v in data["domids"].items()},
                serial_input=str(data["serial_input"]), qemu_version=data["qemu_version"],
                state_bytes=int(data["state_bytes"]),
                save_seconds=float(data["save_seconds"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"snapshot record incomplete or malformed ({exc!r})",
                             path=path) from None
        if not snap.state_path.is_file():
            raise InputError("the snapshot's machine state is missing", path=snap.state_path)
        return snap

    def resume(self, log_dir: Path, *, name: str = "xen-resume",
               timeout: float = RESUME_TIMEOUT,
               on_stage: StageCallback | None = None) -> ResumedXen:
        """A :class:`ResumedXen` of this snapshot (use it in a ``with`` block)."""
        return ResumedXen(self, log_dir, name=name, timeout=timeout, on_stage=on_stage)

    def changed_inputs(self) -> list[str]:
        """The recorded files that are gone or differ from their SHA-256 now."""
        changed: list[str] = []
        for f in self.inputs:
            if f.sha256 is None:
                continue
            now = InputFile.of(f.role, f.path)
            if now.sha256 != f.sha256:
                why = "missing" if now.sha256 is None else f"sha256 {now.sha256[:16]}..."
                changed.append(f"{f.path} ({f.role}): {why}, snapshot has "
                               f"{f.sha256[:16]}...")
        return changed

    def check_inputs(self) -> None:
        """Raise InputError (naming the snapshot record, the field and the first changed
        file) when a file the saved machine read has changed since."""
        changed = self.changed_inputs()
        if changed:
            raise InputError("a file the saved machine read has changed since: "
                             + "; ".join(changed), path=self.directory / MANIFEST,
                             field="inputs", value=changed[0].split(" (", 1)[0])


def domain_ids(gen: Generated, log: str) -> dict[str, int]:
    """Each domain's id by label, from Xen's ``Loading dN kernel from boot module @ ADDR``
    lines: domUs matched to the config by their kernel's load address; dom0 is 0."""
    domids: dict[str, int] = {}
    if gen.config.dom0_kernel:
        domids["dom0"] = 0
    at = {mod.addr: f"domU{mod.domu}" for mod in gen.modules if mod.role == "domU-kernel"}
    for m in XEN_KERNEL_RE.finditer(log):
        domid, addr = int(m.group(1)), int(m.group(2), 16)
        if domid != 0 and addr in at:
            domids[at[addr]] = domid
    return domids


def snapshot_steps(gen: Generated, directory: Path) -> list[tuple[str, MachineStep]]:
    """The ``at_end`` steps of a boot that saves a snapshot into ``directory``."""

    def shell_ready(machine: QemuMachine, deadline: Deadline) -> str:
        domids = domain_ids(gen, machine.console.log_text())
        if "dom0" not in domids:
            return "no dom0"
        out = DomainShells(machine.console, domids).check("dom0", "uname -r", deadline)
        return f"dom0 runs Linux {out.strip()}"

    def save(machine: QemuMachine, deadline: Deadline) -> str:
        domids = domain_ids(gen, machine.console.log_text())
        saved = save_state(machine, directory / STATE_FILE, deadline)
        inputs = tuple(f for f in machine.record.inputs if f.sha256 is not None)
        XenSnapshot(directory=directory, argv=tuple(machine.argv), inputs=inputs,
                    domids=MappingProxyType(domids), serial_input="DOM0",
                    qemu_version=machine.record.versions.get("qemu"),
                    state_bytes=saved.size, save_seconds=saved.seconds).write()
        return f"{saved.size / 2**20:.0f} MiB in {saved.seconds:.1f} s: {directory}"

    return [("dom0 shell ready", shell_ready), ("snapshot saved", save)]


class ResumedXen:
    """A QEMU started from a :class:`XenSnapshot`; a context manager that stops it.

    ``with ResumedXen(snapshot, log_dir) as xen: xen.run("domU0", "ls /tmp")``. Logs go to
    ``log_dir`` as ``<name>.serial.log`` with a run record and repro script. Raises
    InputError (before starting QEMU) when a file the saved machine read has changed, and
    :class:`~bootproof.harness.core.machinestate.ResumeFailed` when QEMU cannot load it.
    """

    def __init__(self, snapshot: XenSnapshot, log_dir: Path, *, name: str = "xen-resume",
                 timeout: float = RESUME_TIMEOUT,
                 on_stage: StageCallback | None = None) -> None:
        self.snapshot = snapshot
        self.log_dir = log_dir
        self.name = name
        self.timeout = timeout
        self._on_stage = on_stage
        self.stages: list[Stage] = []
        self.record = RunRecord(log_dir, name)
        self._machine: QemuMachine | None = None
        self._shells: DomainShells | None = None
        self._start = 0.0

    def _passed(self, name: str, detail: str) -> None:
        stage = Stage(name, time.monotonic() - self._start, detail)
        self.stages.append(stage)
        self.record.add_stage(stage)
        if self._on_stage is not None:
            self._on_stage(stage)

    def __enter__(self) -> ResumedXen:
        snap = self.snapshot
        snap.check_inputs()
        self.record.versions["qemu (snapshot)"] = snap.qemu_version
        machine = QemuMachine(snap.argv, log_dir=self.log_dir, name=self.name,
                              incoming=snap.state_path, bad_patterns=bad_patterns(),
                              record=self.record)
        self._start = time.monotonic()
        # the state's SHA-256 (0.25 s for 300 MiB) is taken on the other core while QEMU
        # loads it: hashing releases the GIL
        with ThreadPoolExecutor(1) as pool:
            state = pool.submit(InputFile.of, "machine state", snap.state_path)
            try:
                machine.launch()
                self._machine = machine
                loaded = await_resumed(machine, Deadline(self.timeout))
                self.record.add_input_file(state.result())
                shells = DomainShells(machine.console, snap.domids,
                                      current=snap.serial_input)
                if "dom0" in snap.domids:  # a snapshot with dom0 has its shell answering
                    shells.wake(Deadline(self.timeout))
            except BaseException as exc:
                machine.shutdown()
                self.record.finish(exc)
                raise
        self._shells = shells
        self._passed("resumed", f"state loaded in {loaded:.2f} s")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._machine is not None:
            self._machine.shutdown()
        self.record.finish(exc)

    @property
    def machine(self) -> QemuMachine:
        if self._machine is None:
            raise RuntimeError("ResumedXen used outside its with block")
        return self._machine

    @property
    def shells(self) -> DomainShells:
        """The domains' shells (:class:`~bootproof.harness.xen.shells.DomainShells`)."""
        if self._shells is None:
            raise RuntimeError("ResumedXen used outside its with block")
        return self._shells

    @property
    def log_path(self) -> Path:
        return self.machine.log_path

    def run(self, domain: str, command: str, timeout: float = 30.0) -> CommandResult:
        """Run ``command`` in the shell of ``domain`` (``dom0``, ``domU0``...); see
        :meth:`~bootproof.harness.xen.shells.DomainShells.run`."""
        if self._shells is None:
            raise RuntimeError("ResumedXen used outside its with block")
        res = self._shells.run(domain, command, Deadline(timeout))
        self._passed(f"ran in {domain}", f"{command!r}: exit {res.status}")
        return res

