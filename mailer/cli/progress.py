"""How a long send shows itself: a bar on a terminal, a line every few seconds in logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

SMALL = 50  # sends shorter than this finish before a bar would help


class SendProgress:
    """A context manager whose value is a `(done, total)` callback for `deliver`."""

    def __init__(
        self,
        console: Console,
        log: TextIO | None = None,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console = console
        self.log = log or sys.stderr
        self.every = every
        self.clock = clock
        self.bar: Progress | None = None
        self.last_line: float | None = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self.update

    def update(self, done: int, total: int) -> None:
        if total < SMALL:
            return
        if self.console.is_terminal:
            self._bar(done, total)
            return
        now = self.clock()
        if self.last_line is None:
            self.last_line = now
        if now - self.last_line >= self.every or done == total:
            self.last_line = now
            print(f"sending: {done:,} of {total:,} ({done * 100 // total}%)", file=self.log)
            self.log.flush()

    def _bar(self, done: int, total: int) -> None:
        if self.bar is None:
            # Imported when a bar is first drawn: most runs send nothing.
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("sending"), BarColumn(), MofNCompleteColumn(), console=self.console
            )
            self.bar.start()
            self.task = self.bar.add_task("send", total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
