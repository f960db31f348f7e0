"""``hw.progress``: print a running tool's :class:`hw.toolchain.ToolStatus` events.

On a terminal one status line is rewritten in place (after an optional header
such as ``[4/7] synthesize (yosys) ...``); elsewhere (CI logs, pipes) a plain
line is printed when the stage changes, at most every ``interval`` seconds, and
at least every ``heartbeat`` seconds, so a log shows that the tool is alive
without filling up.  Notices (the one-time WebAssembly compile) always get a
line of their own.

Usage::

    with StatusLine(header="[4/7] synthesize (yosys) ...") as line:
        run_yosys(args, cwd=out, progress=line)
"""

from __future__ import annotations

import sys
from typing import TextIO

from hw.toolchain import ToolStatus

__all__ = ["StatusLine"]


class StatusLine:
    """A :data:`hw.toolchain.Progress` callback that prints to ``stream`` (default ``sys.stderr``).

    Args:
        header: text already printed (without newline) on the current line; it is kept in front
            of the status on a terminal and printed again by :meth:`close`, so the caller can
            finish the line (``" done (12.3 s)"``).
        stream: where to print.
        tty: force terminal / plain mode (default: ``stream.isatty()``).
        interval: plain mode: fewest seconds between two lines for a new stage.
        heartbeat: plain mode: most seconds without a line while the tool runs.
    """

    def __init__(self, header: str = "", stream: TextIO | None = None, *, tty: bool | None = None,
                 interval: float = 10.0, heartbeat: float = 60.0) -> None:
        self.header = header
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(tty if tty is not None else getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.heartbeat = heartbeat
        self._printed = False
        self._last_time = float("-inf")
        self._last_stage = ""

    def __call__(self, status: ToolStatus) -> None:
        if status.notice:
            self._line(f"note: {status.tool}: {status.stage}")
            return
        if self.tty:
            width = 120
            text = f"{self.header} {status}" if self.header else str(status)
            self.stream.write("\r\033[K" + text[:width])
            self.stream.flush()
            self._printed = True
            return
        since = status.elapsed - self._last_time
        changed = status.stage != self._last_stage
        if (changed and since >= self.interval) or since >= self.heartbeat:
            self._line(f"  {status}")
            self._last_time, self._last_stage = status.elapsed, status.stage

    def _line(self, text: str) -> None:
        """A line of its own, below the header."""
        start = "\r\033[K" if self.tty else ("\n" if self.header and not self._printed else "")
        self.stream.write(f"{start}{text}\n")
        if self.tty and self.header:
            self.stream.write(self.header)
        self.stream.flush()
        self._printed = True

    def close(self) -> None:
        """Clear the status and put the header back, so the caller can end the line."""
        if not self._printed:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self.header)
        elif self.header:
            self.stream.write(self.header)
        self.stream.flush()
        self._printed = False

    def __enter__(self) -> "StatusLine":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
