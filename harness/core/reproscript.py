"""The text of ``repro.sh``: a POSIX shell script that re-runs one recorded boot with no
Python (what it does is described in :mod:`bootproof.harness.core.runrecord`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootproof.harness.core.console import TypedInput
from bootproof.harness.core.inputfiles import InputFile

#: The recorded variables the script exports: those QEMU can see
#: (:data:`bootproof.harness.core.runrecord.ENV_NAMES` and ``ENV_PREFIXES``).
_FOR_QEMU = ("QEMU_", "TMPDIR", "LANG", "LC_ALL", "TZ")

#: The descriptor on which ``repro.sh`` opens a machine state that QEMU loads.
INCOMING_FD = 3

_CONSOLE_SIGNAL_RE = re.compile(r"^(stdio,id=bpcon(?:,.*)?),signal=off((?:,.*)?)$")


def replay_argv(full_argv: Sequence[str]) -> list[str]:
    """The command line ``repro.sh`` runs: the harness's, minus the QMP channel (a
    socket descriptor the harness owned: ``-chardev socket,id=bpqmp,fd=N`` and its ``-mon``),
    with the console's ``signal=off`` turned on (Ctrl-C stops QEMU), and a machine state
    loaded from the harness's descriptor (``-incoming fd:N``) read from the script's
    descriptor :data:`INCOMING_FD` instead."""
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
        if arg == "-incoming" and nxt.startswith("fd:"):
            out += [arg, f"fd:{INCOMING_FD}"]
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
    incoming: Path | None = None,
) -> str:
    """The text of ``repro.sh`` (see the module docstring). ``argv`` is what QEMU runs
    (:func:`replay_argv`), ``typed`` what the harness wrote to the console, in order, each
    typed once the console has shown what the harness saw before typing it; ``incoming``
    the machine state QEMU loads (opened on :data:`INCOMING_FD`)."""
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
    if incoming is not None:
        qemu += f" {INCOMING_FD}<{q(str(incoming))}"
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
    if incoming is not None:
        lines += [
            "    # keys that come before QEMU has loaded the state are lost: Enter (an empty",
            "    # command line) until the console answers",
            "    tries=0",
            '    while [ ! -s "$log" ] && [ "$tries" -lt 300 ]; do',
            "        printf '\\r'",
            "        sleep 0.2",
            "        tries=$((tries + 1))",
            "    done",
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
