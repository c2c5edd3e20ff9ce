"""A table as rich prints it to a pipe or a file, without rich's layout work.

`rich.table.Table(title=..., title_justify="left")` with its defaults (the
heavy-headed box, one space of padding, every column as wide as its widest
cell) prints, where there are no colors, exactly these lines: a report of
100 sessions took rich 40-60 ms to lay out and takes this a millisecond.
Where rich would do more than pad (markup, emoji codes, wide or
non-printable characters, a table wider than the console, a terminal, colors,
a recording or a non-UTF-8 console), `plain_table` says None and rich prints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

PRINTABLE = re.compile(r"[ -~]*")  # one column per character, as rich measures it
EMOJI_CODE = re.compile(r":\S*?:")  # what rich may read as an emoji code, :smile:
BOX = ("┏━┳┓", "┃ ┃┃", "┡━╇┩", "│ ││", "└─┴┘")  # rich.box.HEAVY_HEAD's lines that show


def plain_table(
    console: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> str | None:
    """The lines rich would print for this table on `console`, or None where rich must print it."""
    if not plain_console(console):
        return None
    cells = [*columns, title, *(cell for row in rows for cell in row)]
    if not all(_plain(cell) for cell in cells):
        return None
    widths = [max(len(row[i]) for row in (columns, *rows)) + 2 for i in range(len(columns))]
    width = sum(widths) + len(widths) + 1
    if width > console.width or len(title) > width:
        return None
    top, head, below_head, body, bottom = BOX
    lines = [
        title.ljust(width),
        _rule(top, widths),
        _row(head, columns, widths),
        _rule(below_head, widths),
        *(_row(body, row, widths) for row in rows),
        _rule(bottom, widths),
    ]
    return "\n".join(lines)


def plain_console(console: Console) -> bool:
    """The console prints text as it is: not a terminal, no colors, no recording, UTF-8."""
    return (
        not console.is_terminal
        and console.color_system is None
        and not console.record
        and not console.legacy_windows
        and console.encoding.lower().startswith("utf")
    )


def _plain(cell: str) -> bool:
    return PRINTABLE.fullmatch(cell) is not None and "[" not in cell and not EMOJI_CODE.search(cell)


def _rule(box: str, widths: Sequence[int]) -> str:
    left, line, between, right = box[0], box[1], box[2], box[3]
    return left + between.join(line * width for width in widths) + right


def _row(box: str, cells: Sequence[str], widths: Sequence[int]) -> str:
    left, between, right = box[0], box[2], box[3]
    padded = (f" {cell.ljust(width - 2)} " for cell, width in zip(cells, widths, strict=True))
    return left + between.join(padded) + right
