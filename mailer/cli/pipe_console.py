"""What a rich Console prints to a pipe or a file, for plain lines, without loading rich.

Where standard output is not a terminal (cron mail, a log, the daemon's
runs), `mailer run` mostly prints short plain lines, which rich writes as
they are; loading rich to do so costs more than the rest of an unchanged
run's printing. `PipeConsole.print` writes such a line itself and hands
anything else (markup, emoji codes, a line rich would wrap, a table, other
options) to a rich Console made when first needed, so the output is the
same bytes either way. `RichOnFirstLog` does the same for log lines.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import TYPE_CHECKING, Any, TextIO

from mailer.core.plain_table import EMOJI_CODE, PRINTABLE

if TYPE_CHECKING:
    from rich.console import Console

PIPE_WIDTH = 120  # logs and cron mail are read on wide screens; rich would assume 80
# With soft_wrap rich neither wraps nor crops: lines and box drawing (a plain_table) pass too.
UNWRAPPED = re.compile(r"[ -~\n\u2500-\u257f]*")
PLAIN_OPTIONS = frozenset({"markup", "highlight", "emoji", "soft_wrap"})


def rich_console() -> Console:
    """rich's Console on standard output, PIPE_WIDTH wide where that is not a terminal."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def writes_to_pipe(stream: TextIO) -> bool:
    """rich would take `stream` for a plain UTF-8 pipe: no terminal, no colors asked for."""
    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return False
    try:
        if stream.isatty():
            return False
    except ValueError:  # closed: rich takes it for no terminal, and prints nothing useful
        return False
    return (getattr(stream, "encoding", "utf-8") or "utf-8").lower().startswith("utf")


class PipeConsole:
    """Prints as `rich_console()` would to standard output, which `writes_to_pipe`."""

    is_terminal = False
    color_system = None
    record = False
    legacy_windows = False
    width = PIPE_WIDTH

    def __init__(self) -> None:
        self._rich: Console | None = None

    @property
    def encoding(self) -> str:
        return (getattr(sys.stdout, "encoding", "utf-8") or "utf-8").lower()

    def print(self, *objects: Any, **options: Any) -> None:
        if len(objects) == 1 and isinstance(objects[0], str) and self._plain(objects[0], options):
            sys.stdout.write(objects[0] + "\n")
            sys.stdout.flush()  # as rich does after each print
        else:
            self.rich().print(*objects, **options)

    def rich(self) -> Console:
        if self._rich is None:
            self._rich = rich_console()
        return self._rich

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)

    def _plain(self, text: str, options: dict[str, Any]) -> bool:
        """rich would print `text` as it is: printable ASCII (and box drawing) it leaves alone."""
        if not PLAIN_OPTIONS.issuperset(options):
            return False
        if options.get("markup", True) and "[" in text:
            return False
        if options.get("emoji", True) and EMOJI_CODE.search(text):
            return False
        if options.get("soft_wrap"):
            return UNWRAPPED.fullmatch(text) is not None
        return (
            PRINTABLE.fullmatch(text) is not None
            and len(text) <= self.width
            and text == text.rstrip()
        )


class RichOnFirstLog(logging.Handler):
    """A rich log handler on standard error, made when the first line is logged."""

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.logging import RichHandler

            self._rich = RichHandler(console=Console(stderr=True), show_path=False)
            self._rich.setFormatter(self.formatter)
        self._rich.emit(record)
