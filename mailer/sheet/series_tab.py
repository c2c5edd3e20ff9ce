"""The Series tab's rows -> Series, with a Problem for each bad cell."""

from __future__ import annotations

import functools
import re
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.model import Problem
from mailer.rules.series import WEEKDAYS, Series
from mailer.sheet.tabs import MAX_CAPACITY, Columns, parse_date, web_link
from mailer.sheet.workbook import Table

REQUIRED = ("id", "weekday", "start_time", "end_time", "capacity")


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
