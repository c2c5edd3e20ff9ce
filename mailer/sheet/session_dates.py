"""Session dates that cannot be right (mailer.rules.dates), as problems on their events rows."""

from __future__ import annotations

from collections.abc import Iterable

from mailer.model import Problem
from mailer.rules.dates import Doubt
from mailer.sheet.workbook import Table


def date_problems(table: Table, headers: dict[str, str], doubts: Iterable[Doubt]) -> list[Problem]:
    """Each doubt as a problem on its events row, with the cell as the sheet holds it."""
    problems = []
    for doubt in doubts:
        header = headers[doubt.field]
        index = table.column_index(header)
        value = table.cell(table.rows[doubt.row - 2], index) if doubt.row >= 2 else ""
        reason = (
            f"{doubt.reason} Its signups are left as they are: no email, no status,"
            " until the date is fixed (or the session's status is set to cancelled)."
        )
        problems.append(Problem(table.tab, doubt.row, header, reason, value=value))
    return problems
