"""A progress bar without dependencies: redrawn in place on a terminal, a line per epoch otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """``total`` steps of ``desc``; :meth:`step` after each, :meth:`note` to show values."""

    def __init__(self, total: int, desc: str, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(1, total)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.start = time.perf_counter()
        self.values = ""

    def _line(self) -> str:
        width = 24
        filled = width * self.done // self.total
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        bar = "#" * filled + "." * (width - filled)
        return (
            f"{self.desc} [{bar}] {self.done}/{self.total} {_duration(elapsed)} "
            f"eta {_duration(eta)} {self.values}"
        ).rstrip()

    def step(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if self.enabled and self.tty:
            self.stream.write("\r" + self._line() + "\x1b[K")
            self.stream.flush()

    def note(self, values: str, *, line: bool = False) -> None:
        """Show ``values`` after the bar; ``line``: also print them as a line off a terminal."""
        self.values = values
        if self.enabled and not self.tty and line:
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + self._line() + "\x1b[K\n")
            self.stream.flush()
