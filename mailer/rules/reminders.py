"""PURE: which reminders are due, as of `now`.

Each offset (say 24 hours and 1 hour before the start) is sent once per
confirmed seat. A run that was missed still sends a due reminder late, but
only the latest one due, never two at once, never after the start, never
to a seat that is not confirmed, and never to someone confirmed after that
reminder's moment (their confirmation just told them). One reminder per
window: a reminder sent late, less than half an offset before that
offset's moment, stands in for it (the 24-hour reminder sent 61 minutes
ahead is not followed a minute later by the 1-hour one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from mailer.model import Event
from mailer.rules.roster import CONFIRMED, Notice

REMINDER = "reminder"


def moment(event: Event, offset: int) -> datetime:
    """When an offset's reminder is due: real minutes before the start, reckoned in UTC.

    (Subtracting from a zoned time would count wall-clock hours, one off across a DST change.)
    """
    return event.starts_at.astimezone(UTC) - timedelta(minutes=offset)


def stands_in(told: datetime, event: Event, offset: int) -> bool:
    """Whether a reminder decided at `told` is close enough to an offset's moment to be its own."""
    return told >= moment(event, offset) - timedelta(minutes=offset) / 2


def latest_due(event: Event, offsets: Iterable[int], now: datetime) -> int | None:
    """The smallest offset (in minutes) whose moment has come, if the event is still ahead."""
    if event.cancelled or now >= event.starts_at:
        return None
    due = [o for o in offsets if now >= moment(event, o)]
    return min(due) if due else None


def due_reminders(
    events: Iterable[Event],
    seats: Iterable[tuple[str, str, str, int]],
    offsets: Iterable[int],
    sent_keys: Collection[str],
    confirmed_at: Mapping[tuple[str, str], datetime],
    now: datetime,
    reminded_at: Mapping[tuple[str, str], datetime] | None = None,
) -> list[Notice]:
    """Seats are (event id, email, status, row); returns one notice per reminder to send.

    `confirmed_at` and `reminded_at` hold, by (event id, email), when the person
    was last told of their seat and last reminded.
    """
    reminded_at = reminded_at or {}
    offsets = list(offsets)
    by_id = {e.id: e for e in events}
    latest = {event_id: latest_due(e, offsets, now) for event_id, e in by_id.items()}
    notices = []
    for event_id, email, status, row in seats:
        offset = latest.get(event_id)
        if offset is None or status != CONFIRMED:
            continue
        notice = Notice(REMINDER, event_id, email, row, version=offset)
        told = confirmed_at.get((event_id, email))
        reminded = reminded_at.get((event_id, email))
        if (
            notice.key in sent_keys
            or (told is not None and told >= moment(by_id[event_id], offset))
            or (reminded is not None and stands_in(reminded, by_id[event_id], offset))
        ):
            continue
        notices.append(notice)
    return notices
