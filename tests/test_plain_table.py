"""A table printed to a pipe or a log is the very text rich prints, without rich's layout work."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from rich.console import Console
from rich.table import Table

from mailer.core.plain_table import plain_table

COLUMNS = ("Session", "Starts", "Confirmed", "Waitlisted", "New emails")


def piped(width: int = 120, **options: object) -> Console:
    """A console as `mailer run` has it when its output goes to a file or a pipe."""
    return Console(file=io.StringIO(), width=width, **options)  # type: ignore[arg-type]


def printed_by_rich(
    console: Console, rows: Sequence[tuple[str, ...]], columns: tuple[str, ...] = COLUMNS
) -> str:
    table = Table(title="Signups", title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column != "New emails")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def printed_plain(
    console: Console, rows: Sequence[tuple[str, ...]], columns: tuple[str, ...]
) -> str:
    shown = plain_table(console, "Signups", columns, rows)
    assert shown is not None
    console.print(shown, markup=False, highlight=False, emoji=False, soft_wrap=True)
    return console.file.getvalue()  # type: ignore[attr-defined]


SHAPES: dict[str, list[tuple[str, ...]]] = {
    "one session": [("e1", "Wed Dec 02 12:00", "80/80", "20", "-")],
    "a hundred sessions": [
        (f"e{i}", "Thu Dec 03 09:30", f"{i}/100", str(i % 7), "-") for i in range(100)
    ],
    "long and short cells": [
        ("Grief circle (cancelled)", "Fri Dec 04 18:00", "0/12", "0", "3 cancellation"),
        ("x", "Sat Dec 05 08:00", "12/12", "140", "1 confirmation, 2 waitlist, 1 promotion"),
        ("", "Sun Dec 06 10:00", "1/1000", "", "-"),
    ],
    "spaces inside and around": [
        ("  two  spaces ", "Mon Dec 07 12:00", "3/4", "0", " - "),
        ("a:b c:d", "Tue Dec 08 12:00", "4/4", "1", "2 offer"),
    ],
    "punctuation": [("e/1 ~!@#$%^&*()_+{}|;'<>?,.", "Wed Dec 09 12:00", "1/2", "0", "-")],
    "just fits": [("s" * 59, "Wed Dec 09 12:00", "1/2", "0", "1 reminder")],
    "no rows": [],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_plain_table_is_the_text_rich_prints(shape: str) -> None:
    rows = SHAPES[shape]

    assert printed_plain(piped(), rows, COLUMNS) == printed_by_rich(piped(), rows)


def test_a_title_and_columns_of_any_width_print_the_same() -> None:
    columns = ("A", "Much longer heading", "C")
    rows = [("1", "2", "three"), ("four", "", "5")]

    assert printed_plain(piped(), rows, columns) == printed_by_rich(piped(), rows, columns)


UNPLAIN: dict[str, list[tuple[str, ...]]] = {
    "markup": [("[bold]e1[/bold]", "Wed Dec 02 12:00", "1/2", "0", "-")],
    "an emoji code": [("e1 :smile:", "Wed Dec 02 12:00", "1/2", "0", "-")],
    "wide characters": [("会議", "Wed Dec 02 12:00", "1/2", "0", "-")],
    "accents": [("Café", "Wed Dec 02 12:00", "1/2", "0", "-")],
    "a tab": [("a\tb", "Wed Dec 02 12:00", "1/2", "0", "-")],
    "a line break": [("a\nb", "Wed Dec 02 12:00", "1/2", "0", "-")],
    "wider than the console": [("s" * 60, "Wed Dec 02 12:00", "1/2", "0", "1 reminder")],
}


@pytest.mark.parametrize("shape", UNPLAIN)
def test_rich_prints_what_is_more_than_padding(shape: str) -> None:
    assert plain_table(piped(), "Signups", COLUMNS, UNPLAIN[shape]) is None


@pytest.mark.parametrize(
    "console",
    [
        piped(force_terminal=True),
        piped(color_system="standard", force_terminal=False),
        piped(record=True),
        piped(legacy_windows=True),
    ],
    ids=["a terminal", "colors", "recording", "a legacy Windows console"],
)
def test_rich_prints_where_the_console_does_more_than_write_text(console: Console) -> None:
    assert plain_table(console, "Signups", COLUMNS, SHAPES["one session"]) is None


def test_a_console_that_cannot_write_box_characters_gets_rich_s_table() -> None:
    ascii_file = io.TextIOWrapper(io.BytesIO(), encoding="ascii")

    assert plain_table(Console(file=ascii_file), "Signups", COLUMNS, SHAPES["one session"]) is None
