"""PURE: what people must hear when an organizer moves, relinks or cancels a session.

- A change of start, end or join link after people were invited raises the
  event's SEQUENCE and sends each invited, confirmed person one update.
- Setting the event's status to `cancelled` sends everyone confirmed,
  offered a seat or waitlisted one cancellation.
- Nothing is sent about a session that has already started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailer.model import Event, StoredEvent
from mailer.rules import roster
from mailer.rules.roster import Notice, Plan, Previous
from mailer.rules.statuses import OFFERED

UPDATE = "update"
CANCELLATION = "cancellation"


@dataclass(frozen=True)
class EventChange:
    sequence: int
    before: Event | None = None
    moved: bool = False
    relinked: bool = False
    cancelled: bool = False
    notices: list[Notice] = field(default_factory=list)


def invited(previous: Previous, email: str) -> bool:
    """Whether this person was sent a calendar invitation (a confirmation or promotion)."""
    return any((kind, email) in previous.notified for kind in roster.SEAT_NOTICES)


def detect(
    event: Event, stored: StoredEvent | None, plan: Plan, previous: Previous, now: datetime
) -> EventChange:
    if stored is None:
        return EventChange(sequence=0)
    before = stored.event
    moved = (before.starts_at, before.ends_at) != (event.starts_at, event.ends_at)
    relinked = before.join_url != event.join_url
    cancelled = event.cancelled and not before.cancelled
    sequence = stored.sequence + (1 if moved or relinked or cancelled else 0)
    change = EventChange(sequence, before, moved, relinked, cancelled)
    if now >= event.starts_at or sequence == stored.sequence:
        return change
    if cancelled:
        change.notices.extend(
            Notice(CANCELLATION, event.id, email, seat.row)
            for email, seat in plan.seats.items()
            if seat.status in (roster.CONFIRMED, roster.WAITLISTED, OFFERED)
        )
    elif moved or relinked:
        newly_told = {n.email for n in plan.notices}
        change.notices.extend(
            Notice(UPDATE, event.id, email, seat.row, version=sequence)
            for email, seat in plan.seats.items()
            if seat.status == roster.CONFIRMED
            and invited(previous, email)
            and email not in newly_told
        )
    return change
