"""PURE: the signup form's session choices, as the roster stands.

Each upcoming session that is not cancelled and still takes a signup (a seat
or a place on its waitlist) is one choice, in start order, with its seats:
"Wednesday, December 2 · 12:00–1:30 pm Central (2 of 12 seats left)" or
"... (full: join the waitlist)". With no such session the form stops
accepting responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mailer.model import Event

# US zones by the name people say; elsewhere the zone's own abbreviation.
ZONE_NAMES = {
    "America/New_York": "Eastern",
    "America/Chicago": "Central",
    "America/Denver": "Mountain",
    "America/Phoenix": "Mountain",
    "America/Los_Angeles": "Pacific",
}


@dataclass(frozen=True)
class FormChoices:
    options: tuple[str, ...]  # what the session question offers, in start order
    accepting: bool  # whether the form takes responses
    by_event: Mapping[str, str]  # event id -> its choice text


def session_label(event: Event) -> str:
    """'Wednesday, December 2 · 12:00–1:30 pm Central': the organizer's label, or one made."""
    if event.label:
        return event.label
    start = event.starts_at
    end = event.ends_at.astimezone(start.tzinfo)
    zone = ZONE_NAMES.get(event.timezone, start.tzname() or event.timezone)
    start_clock = _clock(start)
    if _meridiem(start) != _meridiem(end):
        start_clock += f" {_meridiem(start)}"
    return f"{start:%A, %B} {start.day} · {start_clock}–{_clock(end)} {_meridiem(end)} {zone}"


def seat_note(capacity: int, confirmed: int) -> str:
    left = capacity - confirmed
    if left > 0:
        return f"({left} of {capacity} seat{'s' if capacity != 1 else ''} left)"
    return "(full: join the waitlist)"


def form_choices(
    events: Iterable[Event], confirmed: Mapping[str, int], now: datetime, waitlist: bool = True
) -> FormChoices:
    """`waitlist`: whether a full session stays on the form, unless its own row says."""
    by_event = {}
    for event in sorted(events, key=lambda e: (e.starts_at, e.id)):
        if event.cancelled or event.starts_at <= now:
            continue
        taken = confirmed.get(event.id, 0)
        takes_waitlist = waitlist if event.waitlist is None else event.waitlist
        if taken >= event.capacity and not takes_waitlist:
            continue
        by_event[event.id] = f"{session_label(event)} {seat_note(event.capacity, taken)}"
    return FormChoices(tuple(by_event.values()), bool(by_event), by_event)


def _clock(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}"


def _meridiem(moment: datetime) -> str:
    return "am" if moment.hour < 12 else "pm"
