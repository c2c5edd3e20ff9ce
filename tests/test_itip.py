"""Every invitation and cancellation in outbox/ is one calendars act on (iTIP, RFC 5546).

Read with vobject, a second iCalendar parser independent of the icalendar
library that writes them: ATTENDEE is the recipient, the MIME part's method
is the calendar's METHOD, and a cancellation removes the entry its
invitation made (same UID, a higher SEQUENCE).
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
import vobject
from conftest import NOW, SiteDir
from test_emails import read_eml
from test_self_service import BEN, DANIEL, link_in, with_form

from mailer.ledger import open_ledger
from mailer.rules.self_service import SeatRef


def calendars(site: SiteDir) -> list[tuple[dict, str, vobject.base.Component]]:
    """(index line, the part's method parameter, the parsed calendar) for each .ics sent."""
    found = []
    for line in site.sent():
        message = read_eml(site, line)
        for part in message.iter_attachments():
            if part.get_content_type() == "text/calendar":
                text = cast(bytes, part.get_payload(decode=True)).decode("utf-8")
                found.append((line, cast(str, part.get_param("method")), vobject.readOne(text)))
    return found


def release_by_hand(site: SiteDir, token: str, email: str) -> None:
    ledger = open_ledger(site.settings().ledger.path)
    try:
        ledger.add_request(token, SeatRef("release", "ccs-2026-12-02", email), NOW, "test")
    finally:
        ledger.close()


@pytest.mark.parametrize("language", ["English", "Español"])
def test_every_calendar_part_meets_itip(site, language):
    """In either language, for everyone: the sample's signups all answer `language`."""
    answers = site.rows()
    site.write_rows("signups", [{**row, "Preferred language": language} for row in answers])
    title = "Conversación de apoyo comunitario" if language == "Español" else "Community Support"
    with_form(site)
    site.mailer("run")
    token = link_in(site, "confirmation", DANIEL).rsplit("=", 1)[1]
    release_by_hand(site, token, DANIEL)
    site.mailer("run", now=NOW + timedelta(minutes=5))  # Daniel's cancel, Ben's invitation
    rows = site.rows("events")
    rows[0]["starts_at"], rows[0]["ends_at"] = "2026-12-02 13:00", "2026-12-02 14:30"
    site.write_rows("events", rows)
    site.mailer("run", now=NOW + timedelta(minutes=30))  # everyone's update
    rows[0]["status"] = "cancelled"
    site.write_rows("events", rows)
    site.mailer("run", now=NOW + timedelta(hours=1))  # everyone's cancellation

    sent = calendars(site)

    methods: dict[tuple[str, str], list[int]] = {}
    for line, method, calendar in sent:
        event = calendar.vevent
        assert calendar.method.value == method, line["key"]
        attendees = [a.value for a in event.contents["attendee"]]
        assert attendees == [f"mailto:{line['to']}"], line["key"]
        assert event.attendee.params["RSVP"] == ["FALSE"]
        assert event.uid.value == "ccs-2026-12-02@example.org"
        assert event.summary.value.startswith(title), line["key"]
        assert event.description.value.startswith(title), line["key"]
        methods.setdefault((line["to"], method), []).append(int(event.sequence.value))
    kinds = {(line["kind"], method) for line, method, _ in sent}
    assert kinds == {
        ("confirmation", "REQUEST"),
        ("promotion", "REQUEST"),
        ("update", "REQUEST"),
        ("released", "CANCEL"),
        ("cancellation", "CANCEL"),
    }
    assert max(methods[(DANIEL, "CANCEL")]) > max(methods[(DANIEL, "REQUEST")])
    assert max(methods[(BEN, "CANCEL")]) > max(methods[(BEN, "REQUEST")])


def test_a_long_address_is_folded_and_still_reads_whole(site):
    rows = site.rows()
    long_address = "a.very.long.address.for.folding.purposes.only@care-network.example.org"
    rows[0]["Email Address"] = long_address
    site.write_rows("signups", rows)

    site.mailer("run")

    line, _, calendar = next(c for c in calendars(site) if c[0]["to"] == long_address)
    assert calendar.vevent.attendee.value == f"mailto:{long_address}"
    raw = read_eml(site, line)
    part = next(p for p in raw.iter_attachments() if p.get_content_type() == "text/calendar")
    assert all(len(x) <= 75 for x in cast(bytes, part.get_payload(decode=True)).split(b"\r\n"))
