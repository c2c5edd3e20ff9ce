"""The reminders job: remind confirmed people before their session, from the ledger alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mailer import roster
from mailer.adoption import NOTIFIED
from mailer.config import ReminderOptions
from mailer.delivery import deliver
from mailer.emails import EventEmails
from mailer.ledger import Ledger
from mailer.reminders import REMINDER, due_reminders
from mailer.site import Site


@dataclass
class RemindersReport:
    decided: int = 0
    by_event: Counter = field(default_factory=Counter)
    delivered: Counter = field(default_factory=Counter)


def run(
    site: Site,
    ledger: Ledger,
    now: datetime,
    options: ReminderOptions,
    send: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RemindersReport:
    """Send every reminder due as of `now`. Reads no spreadsheet: seats come from the ledger."""
    # A session whose row left the events tab gets no reminder (it is not cancelled either).
    events = {i: s.event for i, s in ledger.stored_events().items() if not s.missing}
    seats = {(s.event_id, s.email): s for s in ledger.seats()}
    # The latest moment the person was told about their seat (or, as the sheet showed when
    # the ledger was rebuilt, anything): a reminder due before then is not sent.
    confirmed_at: dict[tuple[str, str], datetime] = {}
    for (_, event_id, email), at in ledger.sent_at((*roster.SEAT_NOTICES, NOTIFIED)).items():
        moment = datetime.fromisoformat(at)
        confirmed_at[(event_id, email)] = max(moment, confirmed_at.get((event_id, email), moment))
    notices = due_reminders(
        events.values(),
        [(s.event_id, s.email, s.status, s.row) for s in seats.values()],
        options.offset_minutes,
        ledger.message_keys(REMINDER),
        confirmed_at,
        now,
    )
    builders: dict[str, EventEmails] = {}
    drafts = []
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
            )
        )
    report = RemindersReport(by_event=Counter(n.event_id for n in notices))
    report.decided = ledger.add(drafts)
    if send:
        report.delivered = deliver(ledger, site.transport, now, progress)
    return report
