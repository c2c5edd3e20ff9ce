"""Invitations land at the right hour; moves and cancellations reach everyone once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import icalendar
import pytest
from conftest import NOW, body_text
from test_emails import read_eml

from mailer.mail.invitations import invitation
from mailer.model import Event
from mailer.settings import config


def invite_of(site, line) -> icalendar.Calendar:
    mail = read_eml(site, line)
    part = next(p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(cast(bytes, part.get_payload(decode=True)))


def vevent(calendar: icalendar.Calendar) -> icalendar.Component:
    return next(c for c in calendar.walk() if c.name == "VEVENT")


def edit_event(site, **cells: str) -> None:
    rows = site.rows("events")
    rows[0].update(cells)
    site.write_rows("events", rows)


@pytest.mark.parametrize(
    ("zone", "local_start"),
    [
        ("America/Chicago", datetime(2027, 3, 14, 12, 0)),  # the Sunday clocks spring forward
        ("America/Chicago", datetime(2027, 11, 7, 9, 0)),  # the Sunday clocks fall back
        ("Europe/Berlin", datetime(2027, 3, 28, 10, 0)),
        ("Asia/Kolkata", datetime(2026, 12, 9, 19, 30)),
    ],
)
def test_the_invitation_starts_at_the_sheets_time_in_the_events_zone(zone, local_start):
    start = local_start.replace(tzinfo=ZoneInfo(zone))
    event = Event("e1", "Conversation", start, start + timedelta(minutes=90), zone, 12)
    org = config.Organization(name="Network", sender="s@example.org")

    calendar = icalendar.Calendar.from_ical(invitation(event, org, NOW))

    parsed = vevent(calendar)
    assert parsed["DTSTART"].params["TZID"] == zone
    assert parsed.decoded("DTSTART").astimezone(ZoneInfo(zone)).replace(tzinfo=None) == local_start
    assert parsed.decoded("DTSTART").astimezone(UTC) == start.astimezone(UTC)
    assert parsed.decoded("DTEND") - parsed.decoded("DTSTART") == timedelta(minutes=90)
    assert any(c.name == "VTIMEZONE" and c["TZID"] == zone for c in calendar.walk())


def test_a_confirmation_carries_a_full_invitation(site):
    site.mailer("run")

    line = next(line for line in site.sent() if line["to"] == "daniel.reyes@example.org")
    event = vevent(invite_of(site, line))
    assert str(event["UID"]) == "ccs-2026-12-02@example.org"
    assert event["SEQUENCE"] == 0
    assert str(event["URL"]) == "https://zoom.example.org/j/81234567890"
    assert "https://zoom.example.org/j/81234567890" in str(event["DESCRIPTION"])
    assert str(event["ORGANIZER"]) == "mailto:sessions@example.org"
    html = (site.outbox / line["file"]).with_suffix(".html").read_text()
    assert "https://calendar.google.com/calendar/render?action=TEMPLATE" in html
    assert "https://outlook.live.com/calendar/0/deeplink/compose?" in html


def test_a_session_on_the_day_clocks_change_is_reminded_24_real_hours_before(site):
    edit_event(site, starts_at="2027-03-14 12:00", ends_at="2027-03-14 13:30")
    site.mailer("run")
    start = datetime(2027, 3, 14, 17, 0, tzinfo=UTC)  # 12:00 CDT, the first day of DST
    day_before = start - timedelta(hours=24)  # 11:00 CST on Saturday: 24 real hours

    site.mailer("run", "reminders", now=day_before - timedelta(minutes=1))
    # Only reminders: months on, the outbox no longer keeps the confirmations ([privacy]).
    early = Counter(line["kind"] for line in site.sent())["reminder"]
    site.mailer("run", "reminders", now=day_before)

    assert early == 0
    assert Counter(line["kind"] for line in site.sent())["reminder"] == 12
    assert day_before.astimezone(ZoneInfo("America/Chicago")).hour == 11


def test_moving_the_session_sends_one_update_per_confirmed_person(site):
    site.mailer("run")
    edit_event(site, starts_at="2026-12-02 13:00", ends_at="2026-12-02 14:30")

    first = site.mailer("run", now=NOW + timedelta(hours=1))
    site.mailer("run", now=NOW + timedelta(hours=2))

    updates = [line for line in site.sent() if line["kind"] == "update"]
    assert "12 update" in first.output
    assert len(updates) == 12
    assert {line["to"] for line in updates} == {
        row["Email Address"] for row in site.rows() if row["Status"] == "confirmed"
    }
    event = vevent(invite_of(site, updates[0]))
    assert event["SEQUENCE"] == 1
    assert event.decoded("DTSTART").hour == 13
    text = body_text(read_eml(site, updates[0]))
    assert "moved it to Wednesday, December 2, 2026, 1:00–2:30 pm CST" in text
    assert "(it was Wednesday, December 2, 2026, 12:00–1:30 pm CST)" in text


def test_a_new_join_link_is_an_update_too(site):
    site.mailer("run")
    edit_event(site, join_url="https://zoom.example.org/j/99999999999")

    site.mailer("run", now=NOW + timedelta(hours=1))

    updates = [line for line in site.sent() if line["kind"] == "update"]
    assert len(updates) == 12
    text = body_text(read_eml(site, updates[0]))
    assert "The Zoom link is new" in text and "j/99999999999" in text


def test_people_confirmed_after_a_move_get_the_new_time_and_sequence(site):
    site.mailer("run")
    edit_event(site, starts_at="2026-12-02 13:00", ends_at="2026-12-02 14:30")
    site.mailer("run", now=NOW + timedelta(hours=1))
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Daniel Reyes")["Status"] = "cancelled"
    site.write_rows("signups", rows)

    site.mailer("run", now=NOW + timedelta(hours=2))

    promotion = next(line for line in site.sent() if line["kind"] == "promotion")
    event = vevent(invite_of(site, promotion))
    assert (event["SEQUENCE"], event.decoded("DTSTART").hour) == (1, 13)


def test_cancelling_the_session_tells_everyone_once(site):
    site.mailer("run")
    edit_event(site, status="cancelled")

    site.mailer("run", now=NOW + timedelta(hours=1))
    site.mailer("run", now=NOW + timedelta(hours=2))
    site.mailer("run", "reminders", now=NOW + timedelta(days=7, hours=20))

    cancellations = [line for line in site.sent() if line["kind"] == "cancellation"]
    assert len(cancellations) == 14
    assert len(site.sent()) == 28
    confirmed = next(c for c in cancellations if c["to"] == "daniel.reyes@example.org")
    waiting = next(c for c in cancellations if c["to"] == "ben.whitaker@example.org")
    calendar = invite_of(site, confirmed)
    assert calendar["METHOD"] == "CANCEL"
    assert vevent(calendar)["SEQUENCE"] == 1
    assert not list(read_eml(site, waiting).iter_attachments())
