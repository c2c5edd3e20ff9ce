"""What a signups pass did, per session and in all, as a line for logs and a table for people."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from mailer.core.errors import MailerError
from mailer.core.plain_table import plain_console, plain_table
from mailer.core.text import plural
from mailer.jobs.base import delivered_text
from mailer.settings.config import JobSettings
from mailer.sheet.workbook import Skipped

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.model import Event, Problem
    from mailer.sheet.google_form import FormReport

log = logging.getLogger("mailer.signups")
TITLE = "Signups"
COLUMNS = ("Session", "Starts", "Confirmed", "Waitlisted", "New emails")


class EventSummary(NamedTuple):
    event: Event
    confirmed: int
    waitlisted: int
    new_messages: Counter[str]


@dataclass(eq=False, repr=False)
class SignupsReport:
    zone: ZoneInfo
    events: list[EventSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decided: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    cells_written: int = 0
    skipped_writes: list[Skipped] = field(default_factory=list)
    adopted: int = 0  # emails the sheet showed as sent that the ledger had no record of
    series_added: int = 0  # Events rows added for the Series tab
    form: FormReport | None = None  # what keeping the signup form in step did
    requests: int = 0  # people's own answers (a release, leaving the waitlist) acted on
    failed_steps: list[str] = field(default_factory=list)  # after the send: "step: why"

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A step after the send: its failure is its own line and the steps after it still run."""
        try:
            yield
        except MailerError as err:
            log.error("%s failed: %s", name, err)
            self.failed_steps.append(f"{name} failed: {err}")

    def changed_nothing(self) -> bool:
        """The run decided, sent and wrote nothing (the ledger is compared apart)."""
        return not (
            self.decided
            or sum(self.delivered.values())
            or self.cells_written
            or self.skipped_writes
            or self.adopted
            or self.series_added
            or self.form is not None
            or self.requests
            or self.failed_steps
        )

    def summary(self) -> str:
        rejected = plural(len(self.rejected), "row")
        line = f"{self.decided} new, {delivered_text(self.delivered)}, {rejected} rejected"
        return "; ".join([line, *self.failed_steps])

    def show(self, console: Console, job: JobSettings) -> None:
        # Where nothing shows a style, rich need not find what to highlight (4 regexes to
        # compile), nor look up emoji codes in our own words (3 ms to load them).
        highlight = not plain_console(console)
        if self.events:
            self._show_sessions(console)
        else:
            console.print("No upcoming sessions in the workbook.", highlight=highlight)
        console.print(
            f"Emails: {self.decided} new, {delivered_text(self.delivered)}."
            f" Sheet: {plural(self.cells_written, 'cell')} written.",
            highlight=highlight,
            emoji=False,
        )
        if self.series_added:
            added = plural(self.series_added, "session")
            console.print(f"Series: {added} added to the Events tab.")
        if self.form is not None and self.form.changed:
            state = "accepting responses" if self.form.accepting else "not accepting responses"
            offered = plural(len(self.form.options), "choice")
            console.print(f"Signup form: now {offered}, {state}.")
        if self.requests:
            people = plural(self.requests, "person", "people")
            console.print(f"{people} gave up their place from the link in an email.")
        if self.adopted:
            console.print(
                f"Rebuilt from the sheet: the ledger had no record of"
                f" {plural(self.adopted, 'email')} that the Notified column shows as sent;"
                " they are taken as sent, never sent again.",
                soft_wrap=True,
            )
        if self.rejected:
            rows = plural(len(self.rejected), "row")
            console.print(f"[bold]{rows} rejected[/bold] (fix in the sheet):")
        lines = [f"  {p}" for p in self.rejected]
        lines += [f"  note: {p}" for p in self.problems if not p.fatal]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [
            f"  not written: row {s.row} {s.column}: {s.reason} (the next run tries again)"
            for s in self.skipped_writes
        ]
        for line in lines:
            console.print(line, markup=False, highlight=highlight, soft_wrap=True)
        for failed in self.failed_steps:
            console.print(
                f"  after sending, the {failed} (what was sent above stays sent)",
                markup=False,
                soft_wrap=True,
            )

    def _show_sessions(self, console: Console) -> None:
        """The sessions' table: as plain text where rich would print just that (a pipe, a log)."""
        rows = []
        for each in self.events:
            event = each.event
            new = ", ".join(f"{n} {kind}" for kind, n in sorted(each.new_messages.items()))
            rows.append(
                (
                    event.shown_id + (" (cancelled)" if event.cancelled else ""),
                    f"{event.starts_at.astimezone(self.zone):%a %b %d %H:%M}",
                    f"{each.confirmed}/{event.capacity}",
                    str(each.waitlisted),
                    new or "-",
                )
            )
        shown = plain_table(console, TITLE, COLUMNS, rows)
        if shown is not None:
            console.print(shown, markup=False, highlight=False, emoji=False, soft_wrap=True)
            return
        from rich.table import Table as RichTable

        table = RichTable(title=TITLE, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, no_wrap=column != "New emails")
        for row in rows:
            table.add_row(*row)
        console.print(table)
