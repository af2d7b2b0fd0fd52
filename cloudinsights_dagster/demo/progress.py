"""One line per step, with the time since the start; a bar that redraws in place on a terminal
(and prints only its last state elsewhere, so a log holds one line per step too)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.started = time.monotonic()
        self.live = self.out.isatty()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _stamp(self) -> str:
        return f"[{self.elapsed():5.1f}s]"

    def step(self, text: str) -> None:
        print(f"{self._stamp()} {text}", file=self.out, flush=True)

    def plain(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    @contextmanager
    def bar(self, label: str, total: int, width: int = 24) -> Iterator[Bar]:
        bar = Bar(self, label, total, width)
        try:
            yield bar
        finally:
            bar.finish()


class Bar:
    def __init__(self, progress: Progress, label: str, total: int, width: int):
        self.progress, self.label, self.total, self.width = progress, label, max(total, 1), width
        self.done = 0
        self.note = ""
        self._draw()

    def advance(self, note: str = "", by: int = 1) -> None:
        self.done = min(self.total, self.done + by)
        self.note = note
        self._draw()

    def _line(self) -> str:
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        note = f"  {self.note}" if self.note else ""
        return f"{self.progress._stamp()} {self.label} [{bar}] {self.done}/{self.total}{note}"

    def _draw(self) -> None:
        if self.progress.live:
            print(f"\r\033[K{self._line()}", end="", file=self.progress.out, flush=True)

    def finish(self) -> None:
        if self.progress.live:
            print(f"\r\033[K{self._line()}", file=self.progress.out, flush=True)
        else:
            print(self._line(), file=self.progress.out, flush=True)
