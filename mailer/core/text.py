"""Text as it may go into a header or a one-line cell."""

from __future__ import annotations

import re


def clean_text(value: str) -> str:
    """One line of text: control characters and line breaks become single spaces."""
    if value.isprintable() and "  " not in value and value == value.strip(" "):
        return value  # nothing to clean: most cells
    cleaned = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())
    return value if cleaned == value else cleaned  # keep the one string when nothing changed


def plural(count: int, word: str, many: str = "") -> str:
    """'1 row', '2 rows', '0 rows': a count with its noun in the right number."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def columns(header: list[str], rows: list[list[str]]) -> list[str]:
    """Rows as lines of left-aligned columns two spaces apart, the header first."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
