"""The console's text between reads and matches, searched one line at a time.

A :class:`LineBuffer` holds what was read from the guest and not consumed by a match yet.
:meth:`LineBuffer.scan` finds the earliest match of the patterns a wait wants or of the
bad patterns, line by line, never across a line end; the unfinished last line is searched
too, but a match that depends on where it ends waits for its end. Lines a wait has
searched are set aside (:meth:`LineBuffer.searched`), so each character is examined about
once per wait and a chatty guest costs no quadratic copying.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Searched whole lines are set aside once this many characters of them pile up.
HOLD_AT = 4096


@dataclass(frozen=True)
class Hit:
    """A match found by :meth:`LineBuffer.scan`: which pattern, where in the buffer, which line."""

    index: int
    match: re.Match[str]
    start: int
    end: int
    line_start: int


class LineBuffer:
    """Text read but not consumed yet, with what is known about it: where the current line
    began, how far the bad patterns were checked, and whether the guest's output ended."""

    def __init__(self) -> None:
        self._line_head = ""  # the part of the current line consumed by earlier matches
        self._buf = ""  # text read but not consumed by a match yet
        self._bad_pos = 0  # self._buf[:_bad_pos] has been checked for bad patterns
        # Whole lines a wait has already searched, set aside so the buffer stays short (no
        # quadratic copying on chatty consoles); put back if the wait ends without a match.
        self._held: list[str] = []
        self._held_head = ""  # _line_head as it was for the first held line
        #: The guest's output ended (end-of-file): the last line will never be finished.
        self.eof = False

    def feed(self, text: str) -> None:
        """Append what one read brought."""
        self._buf += text

    def consume_all(self) -> None:
        """Forget everything read so far (drained, or reported)."""
        self.consume(len(self._buf))

    def searched(self, pos: int, resume: int) -> int:
        """Record that a scan found nothing before ``resume``: the bad patterns are checked
        up to there, and searched whole lines are set aside once enough pile up. Returns
        where the next scan of the wanted patterns starts (from ``pos`` at the least)."""
        pos = max(pos, resume)
        self._bad_pos = max(self._bad_pos, resume)
        if resume >= HOLD_AT:
            self._hold(resume)
            pos -= resume
        return pos

    def line_finished(self, hit: Hit) -> bool:
        """Whether the line of ``hit`` has its end in the buffer."""
        return "\n" in self._buf[hit.end:]

    def line_of(self, hit: Hit) -> str:
        """The whole line ``hit`` is on (as far as it has arrived), carriage returns removed."""
        head = self._line_head if hit.line_start == 0 else ""
        return head + self._buf[hit.line_start:].split("\n", 1)[0]

    def consume(self, end: int) -> None:
        """Drop the held lines and ``self._buf[:end]``: they were matched (or drained)."""
        done = self._buf[:end]
        cut = done.rfind("\n")
        self._line_head = done[cut + 1:] if cut >= 0 else self._line_head + done
        self._buf = self._buf[end:]
        self._bad_pos = max(0, self._bad_pos - end)
        self._held.clear()

    def _hold(self, end: int) -> None:
        """Set ``self._buf[:end]`` (whole lines, already searched) aside."""
        if not self._held:
            self._held_head = self._line_head
        self._line_head = ""
        self._held.append(self._buf[:end])
        self._buf = self._buf[end:]
        self._bad_pos -= end

    def unhold(self) -> None:
        """Put held lines back in front of the buffer (a new wait searches them again)."""
        if self._held:
            text = "".join(self._held)
            self._held.clear()
            self._buf = text + self._buf
            self._bad_pos += len(text)
            self._line_head = self._held_head

    def scan(self, wanted: Sequence[re.Pattern[str]], pos: int,
             bad: Sequence[tuple[str, re.Pattern[str]]]) -> Hit | int:
        """Look for the earliest match, line by line: ``wanted`` from ``pos``, ``bad`` from
        ``self._bad_pos``. Returns the hit (index < len(wanted) for a wanted pattern,
        len(wanted) + j for bad pattern j), or the position a later scan must resume from
        (the start of the unfinished last line).

        The unfinished last line is searched with a NUL appended, and a match that reaches
        the NUL does not count: such a match depends on where the line ends (``$``, a
        greedy ``.*``), so it must wait for the line end."""
        buf = self._buf
        bad_pos = self._bad_pos
        line = buf.rfind("\n", 0, min(pos, bad_pos)) + 1
        end_of_buf = len(buf)
        while line < end_of_buf:
            nl = buf.find("\n", line)
            if nl >= 0:
                text, base, stop = buf, 0, nl
            elif self.eof:  # the last line will never be finished: take it as it is
                text, base, stop = buf, 0, end_of_buf
            else:  # unfinished line
                text, base = buf[line:] + "\0", line
                stop = len(text) - 1
            best: Hit | None = None
            jobs: list[tuple[int, int, Sequence[re.Pattern[str]]]] = []
            line_end = nl if nl >= 0 else end_of_buf
            if line_end >= pos:
                jobs.append((0, max(line, pos), wanted))
            if line_end >= bad_pos:
                jobs.append((len(wanted), max(line, bad_pos), [r for _, r in bad]))
            for first, frm, regexes in jobs:
                for k, regex in enumerate(regexes):
                    m = regex.search(text, frm - base, stop if nl >= 0 else len(text))
                    if m is None or m.end() > stop:
                        continue
                    if best is None or m.start() + base < best.start:
                        best = Hit(first + k, m, m.start() + base, m.end() + base, line)
            if best is not None:
                return best
            if nl < 0:
                break
            line = nl + 1
        return line
