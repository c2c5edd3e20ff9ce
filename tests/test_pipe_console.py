"""What `mailer run` prints to a pipe is the very text rich prints, with or without rich loaded."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from mailer.cli.pipe_console import PipeConsole, RichOnFirstLog, writes_to_pipe
from mailer.core.plain_table import plain_table

LONG = "Rebuilt from the sheet: the ledger had no record of 3 emails " * 3
TABLE_ROWS = [("e1", "Wed Dec 02 12:00", "20/20", "3", "-")]
COLUMNS = ("Session", "Starts", "Confirmed", "Waitlisted", "New emails")

CASES: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("Emails: 0 new, 0 sent. Sheet: 0 cells written.",), {"highlight": False, "emoji": False}),
    (("Retention: nothing to remove.",), {"markup": False, "highlight": False, "emoji": False}),
    (("[bold]2 rows rejected[/bold] (fix in the sheet):",), {}),
    (("  row 4 [email]: not an address",), {"markup": False, "soft_wrap": True}),
    (("Reminder sent :smile: today",), {}),
    (("Reminder sent :smile: today",), {"emoji": False}),
    ((LONG,), {}),
    ((LONG,), {"soft_wrap": True}),
    (("trailing spaces   ",), {}),
    (("Café Olé, naïve résumé",), {"soft_wrap": True}),
    (("",), {}),
    (("two", "objects"), {}),
    (("styled",), {"style": "bold"}),
    (("first line\nsecond line",), {}),
]


def printed_by_rich(objects: tuple[Any, ...], options: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), width=120)
    console.print(*objects, **options)
    return console.file.getvalue()  # type: ignore[attr-defined]


def printed_by_pipe(
    objects: tuple[Any, ...], options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> str:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    PipeConsole().print(*objects, **options)
    return out.getvalue()


@pytest.mark.parametrize(("objects", "options"), CASES)
def test_each_line_is_printed_as_rich_prints_it(
    objects: tuple[Any, ...], options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert printed_by_pipe(objects, options, monkeypatch) == printed_by_rich(objects, options)


def test_a_plain_table_and_a_rich_table_print_as_rich_prints_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = plain_table(Console(file=io.StringIO(), width=120), "Signups", COLUMNS, TABLE_ROWS)
    assert shown is not None
    plain = {"markup": False, "highlight": False, "emoji": False, "soft_wrap": True}
    assert printed_by_pipe((shown,), plain, monkeypatch) == printed_by_rich((shown,), plain)
    table = Table(title="Signups", title_justify="left")
    for column in COLUMNS:
        table.add_column(column)
    table.add_row(*TABLE_ROWS[0])
    assert printed_by_pipe((table,), {}, monkeypatch) == printed_by_rich((table,), {})


def test_plain_lines_need_no_rich_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    console = PipeConsole()
    console.print("Emails: 0 new, 0 sent.", highlight=False)
    assert console._rich is None
    console.print("[bold]rejected[/bold]")
    assert console._rich is not None


def test_a_terminal_or_forced_colors_are_not_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert writes_to_pipe(io.StringIO())
    assert not writes_to_pipe(Terminal())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not writes_to_pipe(io.StringIO())


def test_a_log_line_is_written_by_rich_when_first_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = logging.LogRecord("mailer", logging.WARNING, __file__, 1, "row %d skipped", (4,), None)
    lazy = RichOnFirstLog()
    lazy.setFormatter(logging.Formatter("%(message)s"))
    lazy.handle(record)
    by_lazy = capsys.readouterr().err
    eager = RichHandler(console=Console(stderr=True), show_path=False)
    eager.setFormatter(logging.Formatter("%(message)s"))
    eager.handle(record)
    assert by_lazy == capsys.readouterr().err
    assert "row 4 skipped" in by_lazy
