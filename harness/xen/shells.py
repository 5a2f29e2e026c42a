"""Commands typed into the guests' shells over Xen's one serial console.

Every domain of a Xen boot shares the board's UART: Xen hands the serial input to one
domain at a time (CTRL-a three times moves it on: ``*** Serial input to DOM1``, then the
next domain, then Xen itself) and prints what the domUs write through their emulated PL011
(``console=ttyAMA0``) one line at a time, each behind a prefix (``(XEN) DOM1: `` in Xen
4.17, ``(d1) `` in later versions). dom0 writes
through its hypervisor console (``hvc0``) with no prefix. The test ``/init``
(:mod:`bootproof.harness.xen.initramfs`) runs a shell on the domain's console with
``shell=1`` on its command line.

:class:`DomainShells` moves the input to the domain asked for and types one line: the
command between two computed marks (``echo B$((N+1))``: the typed text holds
``$((N+1))``, only the shell's output holds its value), so the command's output and exit
status are read back without mistaking the echo of the typed line for them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bootproof.builder.errors import InputError
from bootproof.harness.core.console import Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BootFailure, BootTimeout
from bootproof.harness.xen.parsers import SERIAL_INPUT_RE

SWITCH_KEYS = "\x01\x01\x01"
#: Xen's name of a domain's serial input (``DOM0``...), and of its own.
XEN_INPUT = "Xen"
#: Characters typed into dom0 at once: three quarters of the 128 Xen keeps for dom0 until
#: dom0 reads them (the rest leaves room for an Enter pressed meanwhile).
CHUNK = 96
#: Seconds (scaled) of silence from a domain before Enter is pressed again.
KICK_AFTER = 0.5
#: Seconds (scaled) the start of a command may take before the first such Enter: it is
#: printed at once by a shell that runs (a shell builtin); one that stalls gets going.
FIRST_KICK_AFTER = 0.1
#: Seconds (scaled) :meth:`DomainShells.wake` waits for an answer before Enter again.
WAKE_EVERY = 0.1
#: Numbers in the marks start here: long enough not to be mistaken for other output.
NONCE_BASE = 7000
#: Seconds between two :data:`CHUNK` of one line typed into dom0.
PAUSE = 0.05
#: Xen's prefix on a domU's lines: ``(XEN) `` alone while the domU has the input; in an echo it
#: may also come in the middle of a line (busybox redrawing the line it edits).
_XEN_BREAK = re.compile(r"\n(?:\(XEN\) )?|\(XEN\) ")
_DOMU_PREFIX = r"^(?:\(XEN\) )?(?:\(d{domid}\) |DOM{domid}: )?"
_OTHER_DOMU = r"(?:\(XEN\) )?(?:DOM(?!{domid}:)\d+: |\(d(?!{domid}\))\d+\) )[^\n]*\n"


@dataclass(frozen=True)
class CommandResult:
    """One command run in a domain's shell: its output (lines without Xen's prefix) and
    exit status."""

    domain: str
    command: str
    output: str
    status: int


def input_name(domid: int) -> str:
    """What Xen's ``*** Serial input to`` line calls domain ``domid``."""
    return f"DOM{domid}"


def command_line(command: str, nonce: int) -> str:
    """The line typed for ``command``: marks before and after, the exit status in the
    second. Raises InputError for a command that would break the line."""
    if not command.strip() or any(c in command for c in "\n\r\x01\x03\x04"):
        raise InputError("a shell command must be one non-empty line", field="command",
                         value=command)
    return f"echo B$(({nonce}+1));{command};echo E$?_$(({nonce}+1))"


def marks(nonce: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """What the shell prints for :func:`command_line`: the first mark, and the second one
    with the exit status (group 1)."""
    return (re.compile(rf"\bB{nonce + 1}\b"), re.compile(rf"\bE(\d+)_{nonce + 1}\b"))


def output_between(log: str, nonce: int) -> str:
    """The text between the last first mark of ``nonce`` in ``log`` and the second mark
    (carriage returns removed; the first mark's line end dropped)."""
    first, second = marks(nonce)
    begin = [m.end() for m in first.finditer(log)]
    if not begin:
        return ""
    tail = log[begin[-1]:]
    end = second.search(tail)
    text = tail[:end.start()] if end else tail
    return text.replace("\r", "").removeprefix("\n")


def type_paced(console: Console, text: str) -> None:
    """Type ``text`` :data:`CHUNK` characters at a time, :data:`PAUSE` seconds apart.

    For dom0's console, not echo-checked (a shell's line editing redraws long lines):
    paced instead, as Xen keeps only 128 typed characters for dom0 until it reads them
    (more are dropped). A command line of up to :data:`CHUNK` characters goes at once.
    """
    for start in range(0, len(text), CHUNK):
        if start:
            time.sleep(PAUSE)
        console.send(text[start:start + CHUNK])


def unbroken(echo: str, domid: int | None = None) -> str:
    """A domU's echo without the line breaks and ``(XEN) `` prefixes Xen puts into it, and
    (given the domain's id) without the lines of other domains that came in the middle of
    it (``DOM2: ...`` / ``(d2) ...``, up to the line end)."""
    text = echo.replace("\r", "")
    if domid is not None:
        text = without_others(text, domid)
    return _XEN_BREAK.sub("", text)


def without_others(text: str, domid: int) -> str:
    """``text`` (a domU's output) without the lines of other domUs that came into it, also in
    the middle of one of its lines: Xen prints every domU's lines on the one console."""
    return re.sub(_OTHER_DOMU.format(domid=domid), "", text)


def type_echoed(console: Console, text: str, deadline: Deadline,
                domid: int | None = None) -> None:
    """Type ``text`` into a domU, 16 characters at a time, each piece echoed before the
    next: Xen's vpl011 keeps only 32 typed characters until the domU reads them. The echo
    comes back through Xen, which may break it into lines with its ``(XEN) `` prefix (the
    first key after an input switch always does), and other domUs' lines may come in the
    middle (given ``domid``, :func:`without_others` drops them), so it is compared without
    those."""
    seen = ""
    typed = ""
    for start in range(0, len(text), 16):
        piece = text[start:start + 16]
        console.send(piece)
        typed += piece
        while typed not in unbroken(seen, domid):
            if deadline.expired:
                raise BootTimeout(f"no echo of {piece!r} from the domU",
                                  waiting_for=f"echo of {piece!r}",
                                  log_path=console.log_path, log_tail=console.tail())
            got = console.read_now(0.05)
            if got is None:
                raise BootTimeout("QEMU exited while typing", waiting_for="echo",
                                  log_path=console.log_path, log_tail=console.tail())
            seen += got


def strip_prefix(text: str, domid: int) -> str:
    """The output of domain ``domid`` without Xen's per-line prefix and other domUs' lines
    (domUs), carriage returns and the last line ending."""
    text = text.replace("\r", "")
    if domid != 0:
        prefix = re.compile(_DOMU_PREFIX.format(domid=domid))
        lines = without_others(text, domid).split("\n")
        text = "\n".join(prefix.sub("", line, count=1) for line in lines)
    return text.removesuffix("\n")


class DomainShells:
    """The shells of a running Xen system's domains, reached through ``console``.

    ``domids`` maps a domain's label (``dom0``, ``domU0``...) to its domain id; ``current``
    is the domain (Xen's name, e.g. ``DOM0``) that has the serial input now.
    """

    def __init__(self, console: Console, domids: Mapping[str, int], *,
                 current: str = "DOM0") -> None:
        self.console = console
        self.domids = MappingProxyType(dict(domids))
        self.current = current
        self._nonce = NONCE_BASE

    def domid(self, domain: str) -> int:
        """The id of the domain labelled ``domain``; InputError for an unknown label."""
        try:
            return self.domids[domain]
        except KeyError:
            known = ", ".join(self.domids) or "none"
            raise InputError(f"no such domain (known: {known})", field="domain",
                             value=domain) from None

    def switch_to(self, name: str, deadline: Deadline) -> None:
        """Move the serial input to ``name`` (``DOM<id>`` or ``Xen``). Raises BootTimeout
        when Xen does not answer or never offers that domain."""
        for _ in range(len(self.domids) + 3):
            if self.current == name:
                return
            self.console.send(SWITCH_KEYS)
            m = self.console.expect(SERIAL_INPUT_RE, deadline.child(10),
                                    name="Xen serial input switch")
            self.current = m.group(1)
        if self.current != name:
            raise BootTimeout(f"Xen never gave the serial input to {name}",
                              waiting_for=f"Serial input to {name}",
                              log_path=self.console.log_path, log_tail=self.console.tail())

    def wake(self, deadline: Deadline) -> None:
        """Press Enter (an empty command line) until the domain that has the serial input
        answers. After a resume from some snapshots, a domain takes a typed line only when
        the next key arrives (QEMU 7.2 does not re-arm the EL2 timer Xen runs on; see the
        README), so the first command would stall until :meth:`_expect` presses Enter.
        Raises BootTimeout when nothing answers before ``deadline``."""
        while True:
            self.console.send("\r")
            got = self.console.read_now(deadline.child(WAKE_EVERY).remaining())
            if got:
                return
            if got is None or deadline.expired:
                raise BootTimeout(f"{self.current} does not answer Enter",
                                  waiting_for="an answer to Enter", seconds=deadline.seconds,
                                  log_path=self.console.log_path, log_tail=self.console.tail())

    def run(self, domain: str, command: str, deadline: Deadline) -> CommandResult:
        """Run ``command`` in the shell of ``domain`` and return its output and status.

        Raises BootTimeout when the result does not come before ``deadline`` (no shell on
        that console, or a command that does not end), InputError for an unknown domain or
        a command that is not one line.
        """
        domid = self.domid(domain)
        self._nonce += 1
        line = command_line(command, self._nonce)
        self.switch_to(input_name(domid), deadline)
        if domid == 0:
            type_paced(self.console, line + "\r")
        else:
            type_echoed(self.console, " " + line, deadline.child(60), domid)
            self.console.send("\r")
        first, second = marks(self._nonce)
        try:
            # the console matches one line at a time: the output lies between two matches
            self._expect(first, deadline, f"start of {command!r} in {domain}",
                         kick_after=FIRST_KICK_AFTER)
            m = self._expect(second, deadline, f"end of {command!r} in {domain}")
        except BootTimeout as exc:
            raise BootTimeout(f"{exc.message} (does {domain} run a shell on its console?)",
                              waiting_for=exc.waiting_for, seconds=exc.seconds,
                              log_path=exc.log_path, log_tail=exc.log_tail) from exc
        self.console.log_text()  # flushes the log file
        # read as bytes: text mode would turn the "\r\r\n" line ends into two lines
        log = self.console.log_path.read_bytes().decode("utf-8", errors="replace")
        output = strip_prefix(output_between(log.replace("\r", ""), self._nonce), domid)
        return CommandResult(domain, command, output, int(m.group(1)))

    def _expect(self, pattern: re.Pattern[str], deadline: Deadline, name: str, *,
                kick_after: float = KICK_AFTER) -> re.Match[str]:
        """Wait for ``pattern``, pressing Enter after ``kick_after`` seconds without it,
        then each :data:`KICK_AFTER` seconds: under emulation a domain's output sometimes
        stalls until the next key arrives (domUs in cold boots; any domain after a resume
        from some snapshots, where a line typed after a pause waits for one more key); the
        key's interrupt gets Xen and the guest going again. The extra Enter is an empty
        command line."""
        wait = kick_after
        while True:
            try:
                return self.console.expect(pattern, deadline.child(wait), name=name)
            except BootTimeout:
                if deadline.expired:
                    raise
                self.console.send("\r")
                wait = KICK_AFTER

    def check(self, domain: str, command: str, deadline: Deadline) -> str:
        """Run ``command`` in ``domain``; its output, or BootFailure if it exits non-zero."""
        res = self.run(domain, command, deadline)
        if res.status != 0:
            raise BootFailure(f"{command!r} in {domain} exited {res.status}: {res.output}",
                              log_path=self.console.log_path, log_tail=self.console.tail())
        return res.output
