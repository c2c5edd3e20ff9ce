"""The reminders job: remind confirmed people before their session, from the ledger alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from mailer.jobs.base import delivered_text
from mailer.ledger import Ledger
from mailer.rules import roster
from mailer.rules.adoption import NOTIFIED
from mailer.rules.reminders import REMINDER, due_reminders, latest_due
from mailer.settings.config import JobSettings
from mailer.settings.kinds import ReminderOptions
from mailer.site import Site

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.mail.emails import EventEmails
    from mailer.mail.message import Draft


@dataclass
class RemindersReport:
    decided: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return f"{self.decided} new, {delivered_text(self.delivered)}"

    def show(self, console: Console, job: JobSettings) -> None:
        per_event = ", ".join(f"{n} for {event}" for event, n in sorted(self.by_event.items()))
        console.print(
            f"Reminders ({job.name}): {self.decided} new"
            + (f" ({per_event})" if per_event else "")
            + f", {delivered_text(self.delivered)}.",
            soft_wrap=True,
            highlight=False,
        )


@dataclass
class Reminders:
    """The reminders due as of a moment; nothing goes back to the sheet."""

    drafts: list[Draft]
    report: RemindersReport

    def record(self, site: Site, ledger: Ledger) -> None:
        # Nothing due is nothing to write: the ledger's writing side is not even opened.
        self.report.decided = ledger.add(self.drafts) if self.drafts else 0

    def write_back(self, site: Site, ledger: Ledger) -> None:
        return None


def decide(site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Reminders:
    """Every reminder due as of `now`. Reads no spreadsheet: seats come from the ledger."""
    options = job.options_as(ReminderOptions)
    # A session whose row left the events tab gets no reminder (it is not cancelled either).
    events = {i: s.event for i, s in ledger.stored_events().items() if not s.missing}
    offsets = options.offset_minutes
    if all(latest_due(event, offsets, now) is None for event in events.values()):
        # No session is within a reminder's reach: no seat or message needs reading.
        return Reminders([], RemindersReport())
    seats = {(s.event_id, s.email): s for s in ledger.seats()}
    # The latest moment the person was told about their seat (or, as the sheet showed when
    # the ledger was rebuilt, anything): a reminder due before then is not sent.
    confirmed_at: dict[tuple[str, str], datetime] = {}
    for (_, event_id, email), at in ledger.sent_at((*roster.SEAT_NOTICES, NOTIFIED)).items():
        moment = datetime.fromisoformat(at)
        confirmed_at[(event_id, email)] = max(moment, confirmed_at.get((event_id, email), moment))
    reminded_at = {
        (event_id, email): datetime.fromisoformat(at)
        for (_, event_id, email), at in ledger.sent_at((REMINDER,)).items()
    }
    notices = due_reminders(
        events.values(),
        [(s.event_id, s.email, s.status, s.row) for s in seats.values()],
        offsets,
        ledger.message_keys(REMINDER),
        confirmed_at,
        now,
        reminded_at,
    )
    builders: dict[str, EventEmails] = {}
    drafts: list[Draft] = []
    if notices:  # the emails' templates load only when a reminder is due (most runs: none)
        from mailer.mail.emails import EventEmails
    for notice in notices:
        seat = seats[(notice.event_id, notice.email)]
        if notice.event_id not in builders:
            builders[notice.event_id] = EventEmails(site, events[notice.event_id], now)
        emails = builders[notice.event_id]
        drafts.append(
            emails.draft(
                notice,
                address=seat.address,
                name=seat.name,
                member=True,
                invited=True,
                position=None,
                template=options.template,
                language=seat.language,
            )
        )
    return Reminders(drafts, RemindersReport(by_event=Counter(n.event_id for n in notices)))
