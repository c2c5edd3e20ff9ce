"""PURE: a Series row ("every Wednesday 12:00–13:30") as the dated sessions it holds ahead.

Each date is an Events row with a stable id (`<series id>-<YYYY-MM-DD>`), so
it reaches the form, the digest and the reminders like any other session, and
an organizer edits or cancels one date on its own row. mailer adds the rows
that are missing within `ahead`; it never changes or deletes one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.rules.form_choices import session_label
from mailer.sheet.tabs import MAX_CAPACITY, Columns, Event, Problem, parse_date, web_link
from mailer.sheet.workbook import Table

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REQUIRED = ("id", "weekday", "start_time", "end_time", "capacity")


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


def parse_series(
    table: Table, mapping: dict[str, str], default_zone: str
) -> tuple[list[Series], list[Problem]]:
    columns = Columns(table, mapping, REQUIRED)
    found, problems = [], []
    for number, values in table.numbered_rows():
        if not any(v.strip() for v in values):
            continue
        try:
            found.append(_series(columns, values, number, default_zone))
        except _Bad as err:
            problems.append(Problem(table.tab, number, columns.header(err.field), err.reason))
    return found, problems


class _Bad(Exception):
    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason


def _series(columns: Columns, values: list[str], number: int, default_zone: str) -> Series:
    text = functools.partial(columns.text, values)
    if not text("id"):
        raise _Bad("id", "is empty")
    day = text("weekday").casefold()
    matches = [i for i, name in enumerate(WEEKDAYS) if name.startswith(day[:3])] if day else []
    if len(day) < 3 or len(matches) != 1:
        raise _Bad("weekday", f"{text('weekday')!r} is not a day of the week")
    clock = {}
    for name in ("start_time", "end_time"):
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text(name))
        if not match:
            raise _Bad(name, f"{text(name)!r} is not a time such as 12:00")
        clock[name] = time(int(match.group(1)), int(match.group(2)))
    if clock["end_time"] <= clock["start_time"]:
        raise _Bad("end_time", "is not after start_time")
    zone = text("timezone") or default_zone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad("timezone", f"unknown time zone {zone!r}") from None
    capacity = text("capacity")
    if not capacity.isdigit() or int(capacity) > MAX_CAPACITY:
        raise _Bad("capacity", f"{capacity[:30]!r} is not a whole number up to {MAX_CAPACITY:,}")
    for name in ("join_url", "signup_url"):
        if text(name) and (reason := web_link(text(name))):
            raise _Bad(name, reason)
    dates: dict[str, date | None] = {}
    for name in ("starts_on", "ends_on"):
        try:
            dates[name] = parse_date(text(name)) if text(name) else None
        except ValueError as err:
            raise _Bad(name, str(err)) from None
    weeks = text("weeks")
    if weeks and (not weeks.isdigit() or not dates["starts_on"]):
        raise _Bad("weeks", "is a whole number of weeks counted from starts_on")
    return Series(
        row=number,
        id=text("id"),
        title=text("title") or text("id"),
        weekday=matches[0],
        start=clock["start_time"],
        end=clock["end_time"],
        timezone=zone,
        capacity=int(capacity),
        join_url=text("join_url"),
        signup_url=text("signup_url"),
        starts_on=dates["starts_on"],
        ends_on=dates["ends_on"],
        weeks=int(weeks) if weeks else None,
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
