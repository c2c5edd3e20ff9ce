"""Event -> an .ics invitation (icalendar) and the words templates use for its time."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from mailer.core.text import plural
from mailer.model import Event
from mailer.settings.config import Organization

if TYPE_CHECKING:  # icalendar is imported when an invitation is made: a digest makes none
    import icalendar


def invitation(
    event: Event,
    org: Organization,
    stamp: datetime,
    sequence: int = 0,
    method: str = "REQUEST",
    attendee: str = "",
    description: str = "",
) -> bytes:
    """One VEVENT with a UID stable per event, in the event's own zone with its VTIMEZONE.

    `stamp` is when the invitation is made (DTSTAMP); `sequence` rises with each change.
    `attendee` is the recipient's address (or its placeholder): iTIP (RFC 5546) wants
    every REQUEST and CANCEL to name who it is for, and calendars act on it only then.
    """
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//mailer//community sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    vevent = icalendar.Event()
    vevent.add("uid", event_uid(event, org))
    vevent.add("sequence", sequence)
    vevent.add("dtstamp", stamp.astimezone(UTC))
    vevent.add("dtstart", event.starts_at)
    vevent.add("dtend", event.ends_at)
    vevent.add("summary", event.title)
    if not description:
        description = f"{event.title} with {org.name}."
        if event.join_url:
            description += f"\n\nJoin on Zoom: {event.join_url}"
    if event.join_url:
        vevent.add("url", event.join_url)
        vevent.add("location", event.join_url)
    vevent.add("description", description)
    organizer = icalendar.vCalAddress(f"mailto:{org.sender}")
    organizer.params["cn"] = icalendar.vText(org.sender_name or org.name)
    vevent.add("organizer", organizer)
    if attendee:
        # No RSVP: mailer reads no replies; the seat is managed from the email's links.
        recipient = icalendar.vCalAddress(f"mailto:{attendee}")
        recipient.params["rsvp"] = icalendar.vText("FALSE")
        vevent.add("attendee", recipient)
    vevent.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar.add_component(_vtimezone(event.timezone, event.starts_at.year))
    calendar.add_component(vevent)
    ical: bytes = calendar.to_ical()
    return ical


@functools.cache
def _vtimezone(tzid: str, year: int) -> icalendar.Timezone:
    """The zone's rules around the event's year, built once per process (the slow part)."""
    import icalendar

    return icalendar.Timezone.from_tzid(
        tzid, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1)
    )


def content_type(method: str) -> str:
    """The MIME type of an iTIP part: its method is a parameter too (RFC 6047)."""
    return f"text/calendar; method={method}"


def event_uid(event: Event, org: Organization) -> str:
    domain = org.sender.rpartition("@")[2] or "mailer.invalid"
    return f"{event.id}@{domain}"


def _clock(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}"


def _meridiem(moment: datetime) -> str:
    return "am" if moment.hour < 12 else "pm"


def describe_time(event: Event) -> dict[str, str]:
    """'Wednesday, December 2, 2026, 12:00–1:30 pm CST' and friends, in the event's zone."""
    start, end = event.starts_at, event.ends_at.astimezone(event.starts_at.tzinfo)
    start_clock = _clock(start)
    zone, end_zone = start.tzname() or event.timezone, end.tzname() or event.timezone
    if zone != end_zone:  # the clocks change during the session: 1:30 am CDT–2:30 am CST
        start_clock += f" {_meridiem(start)} {zone}"
    elif _meridiem(start) != _meridiem(end):
        start_clock += f" {_meridiem(start)}"
    minutes = int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    duration = " ".join(
        part
        for part in (
            plural(hours, "hour") if hours else "",
            plural(rest, "minute") if rest else "",
        )
        if part
    )
    return {
        "when": f"{start:%A, %B} {start.day}, {start.year}, "
        f"{start_clock}–{_clock(end)} {_meridiem(end)} {end_zone}",
        "short_when": f"{start:%a %b} {start.day}, {_clock(start)} {_meridiem(start)} {zone}",
        "duration": duration,
    }
