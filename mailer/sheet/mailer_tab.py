"""The Mailer tab: the last run of each job and every open problem, where organizers look.

mailer alone writes it (whole, each run) and never reads it as input; a
problem that is fixed is simply not written again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

HEADER = ["What", "Job or tab", "Row", "Column", "Value", "What happened, what to do", "When"]


class LastRun(NamedTuple):
    job: str
    started: datetime
    ok: bool
    summary: str  # what it decided and sent, or why it failed


class OpenProblem(NamedTuple):
    key: str  # the same problem as the sheet shows it has the same key
    tab: str
    row: int
    column: str
    value: str
    reason: str
    since: datetime


def tab_rows(
    runs: Sequence[LastRun],
    problems: Sequence[OpenProblem],
    waiting: Sequence[str],
    zone: ZoneInfo,
) -> list[list[str]]:
    """The tab's rows, header first: runs, then problems, then what is waiting."""

    def when(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    rows = [list(HEADER)]
    for run in runs:
        state = "ok" if run.ok else "FAILED"
        rows.append(["last run", run.job, "", "", "", f"{state}: {run.summary}", when(run.started)])
    for p in problems:
        rows.append(
            ["problem", p.tab, str(p.row or ""), p.column, p.value, p.reason, when(p.since)]
        )
    rows.extend(["waiting", "", "", "", "", line, ""] for line in waiting)
    if not problems:
        rows.append(["", "", "", "", "", "No open problems.", ""])
    return rows
