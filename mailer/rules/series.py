"""PURE: a Series row ("every Wednesday 12:00–13:30") as the dated sessions it holds ahead.

Each date is an Events row with a stable id (`<series id>-<YYYY-MM-DD>`), so
it reaches the form, the digest and the reminders like any other session, and
an organizer edits or cancels one date on its own row. mailer adds the rows
that are missing within `ahead`; it never changes or deletes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailer.model import Event
from mailer.rules.form_choices import session_label

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Series:
    row: int
    id: str
    title: str
    weekday: int  # Monday is 0
    start: time
    end: time
    timezone: str
    capacity: int
    join_url: str = ""
    signup_url: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    weeks: int | None = None

    def event(self, day: date) -> Event:
        zone = ZoneInfo(self.timezone)
        return Event(
            id=f"{self.id}-{day:%Y-%m-%d}",
            title=self.title,
            starts_at=datetime.combine(day, self.start, tzinfo=zone),
            ends_at=datetime.combine(day, self.end, tzinfo=zone),
            timezone=self.timezone,
            capacity=self.capacity,
            join_url=self.join_url,
            signup_url=self.signup_url,
        )


def sessions_ahead(series: Series, now: datetime, ahead: timedelta) -> list[Event]:
    """The series' sessions from `now` through the week (to Sunday) that is `ahead` away.

    Whole weeks, so "6 weeks" always means this week's remaining dates and
    the next six weeks', whatever the weekday today, and one more week's
    date arrives each week.
    """
    zone = ZoneInfo(series.timezone)
    first = now.astimezone(zone).date()
    last = (now + ahead).astimezone(zone).date()
    last += timedelta(days=6 - last.weekday())
    if series.starts_on:
        first = max(first, series.starts_on)
    if series.ends_on:
        last = min(last, series.ends_on)
    if series.weeks is not None and series.starts_on:
        last = min(last, series.starts_on + timedelta(days=7 * series.weeks - 1))
    day = first + timedelta(days=(series.weekday - first.weekday()) % 7)
    events = []
    while day <= last:
        event = series.event(day)
        if event.starts_at > now:
            events.append(event)
        day += timedelta(days=7)
    return events


def events_row(event: Event, mapping: dict[str, str]) -> dict[str, str]:
    """The Events tab row for one dated session of a series, by header."""
    values = {
        "id": event.id,
        "title": event.title,
        "label": session_label(event),
        "starts_at": f"{event.starts_at:%Y-%m-%d %H:%M}",
        "ends_at": f"{event.ends_at:%Y-%m-%d %H:%M}",
        "timezone": event.timezone,
        "capacity": str(event.capacity),
        "join_url": event.join_url,
        "signup_url": event.signup_url,
        "status": "",
    }
    return {mapping[name]: value for name, value in values.items() if name in mapping}
