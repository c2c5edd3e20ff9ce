"""A freed seat offered for 12 hours (`claim_within`), stepping through time with --now.

The sample site: 12 confirmed, Ben Whitaker first and Rosa Jiménez second on
the waitlist. An organizer cancels Daniel Reyes's seat, and the seat is
offered to Ben, then, if he does not claim it, to Rosa.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from conftest import NOW, SiteDir, body_text, with_public_url
from test_emails import read_eml
from test_self_service import (  # noqa: F401 (served: mailer serve on a loopback port)
    BEN,
    FORM,
    ROSA,
    START,
    answer_form,
    row_of,
    served,
    with_form,
)

from mailer.core.tokens import load_secret
from mailer.model import Event
from mailer.rules import claims
from mailer.web.app import create_app

CANCELLED_AT = NOW + timedelta(minutes=5)  # Tuesday 09:05 in Chicago


def with_window(site: SiteDir, window: str = "12 hours") -> None:
    path = site.root / "jobs" / "signups.toml"
    path.write_text(path.read_text() + f'\n[options]\nclaim_within = "{window}"\n')


def cancel(site: SiteDir, name: str) -> None:
    rows = site.rows()
    next(row for row in rows if row["Name"] == name)["Status"] = "cancelled"
    site.write_rows("signups", rows)


def sent_to(site: SiteDir, kind: str) -> list[str]:
    return [line["to"] for line in site.sent() if line["kind"] == kind]


@pytest.fixture
def offered(site):
    """Daniel's seat freed by an organizer; the run offers it to Ben."""
    with_window(site)
    with_form(site)
    site.mailer("run")
    cancel(site, "Daniel Reyes")
    site.mailer("run", now=CANCELLED_AT)
    return site


def test_a_freed_seat_is_offered_to_the_first_waitlisted_with_its_end(offered):
    site = offered

    assert sent_to(site, "offer") == [BEN]
    assert sent_to(site, "promotion") == []
    ben = row_of(site, "Ben Whitaker")
    assert (ben["Status"], ben["Note"]) == ("offered", "seat offered until Tue Nov 24 21:05")
    assert (row_of(site, "Rosa Jiménez")["Status"], row_of(site, "Rosa Jiménez")["Position"]) == (
        "waitlisted",
        "1",
    )


def test_an_unclaimed_offer_passes_to_the_next_after_12_hours(offered):
    site = offered

    site.mailer("run", now=CANCELLED_AT + timedelta(hours=11, minutes=55))
    before = Counter(line["kind"] for line in site.sent())
    site.mailer("run", now=CANCELLED_AT + timedelta(hours=12))

    assert before["offer"] == 1
    assert sent_to(site, "offer") == [BEN, ROSA]
    assert sent_to(site, "promotion") == []
    assert row_of(site, "Ben Whitaker")["Status"] == "waitlisted"
    assert row_of(site, "Ben Whitaker")["Note"] == ""
    assert row_of(site, "Rosa Jiménez")["Status"] == "offered"


def test_a_claimed_offer_is_confirmed_with_the_invitation(offered):
    site = offered
    claim = link_in_offer(site, BEN)

    answer_form(site, claim)
    site.mailer("run", now=CANCELLED_AT + timedelta(hours=2))
    site.mailer("run", now=CANCELLED_AT + timedelta(hours=13))

    assert sent_to(site, "promotion") == [BEN]
    assert sent_to(site, "offer") == [BEN]
    ben = row_of(site, "Ben Whitaker")
    assert (ben["Status"], ben["Note"]) == ("confirmed", "")
    assert row_of(site, "Rosa Jiménez")["Status"] == "waitlisted"


def test_a_claim_after_the_offer_ended_changes_nothing(offered):
    site = offered
    claim = link_in_offer(site, BEN)
    site.mailer("run", now=CANCELLED_AT + timedelta(hours=12))

    answer_form(site, claim, answered="11/24/2026 21:30:00")  # after 21:05, when it ended
    site.mailer("run", now=CANCELLED_AT + timedelta(hours=13))

    assert sent_to(site, "promotion") == []
    assert row_of(site, "Ben Whitaker")["Status"] == "waitlisted"
    assert row_of(site, "Rosa Jiménez")["Status"] == "offered"


def test_no_offer_is_made_or_left_open_past_the_start(site):
    with_window(site)
    site.mailer("run")
    cancel(site, "Daniel Reyes")

    site.mailer("run", now=START - timedelta(hours=2))
    ben = row_of(site, "Ben Whitaker")
    site.mailer("run", now=START + timedelta(minutes=1))

    assert ben["Note"] == "seat offered until Wed Dec 02 12:00"
    assert sent_to(site, "offer") == [BEN]
    assert row_of(site, "Rosa Jiménez")["Status"] == "waitlisted"


def test_an_offer_ends_at_the_window_or_the_start_whichever_is_first():
    event = Event(
        id="e",
        title="t",
        label="",
        starts_at=datetime(2026, 12, 2, 18, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 2, 19, 30, tzinfo=UTC),
        timezone="UTC",
        capacity=1,
        join_url="",
        signup_url="",
        status="",
    )
    window = timedelta(hours=12)

    early = claims.until(event, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), window)
    late = claims.until(event, datetime(2026, 12, 2, 10, 0, tzinfo=UTC), window)
    lapsed = claims.lapsed(
        event,
        {"a@x.org": datetime(2026, 12, 1, 0, 0, tzinfo=UTC)},
        set(),
        {"a@x.org": "offered"},
        window,
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )

    assert early == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert late == event.starts_at
    assert lapsed == {"a@x.org"}


def test_an_organizers_confirmed_on_an_offered_row_confirms_at_once(offered):
    site = offered
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Rosa Jiménez")["Status"] = "confirmed"
    site.write_rows("signups", rows)

    site.mailer("run", now=CANCELLED_AT + timedelta(minutes=5))

    assert sent_to(site, "promotion") == [ROSA]
    assert row_of(site, "Rosa Jiménez")["Status"] == "confirmed"
    assert row_of(site, "Ben Whitaker")["Status"] == "offered"
    assert row_of(site, "Ben Whitaker")["Note"] == "seat offered until Tue Nov 24 21:05"


def link_in_offer(site: SiteDir, address: str) -> str:
    """The claim token in the plain-text part of the offer to `address`."""
    line = next(x for x in site.sent() if x["kind"] == "offer" and x["to"] == address)
    plain = body_text(read_eml(site, line))
    claim = next(x for x in plain.splitlines() if x.startswith("Claim your seat: "))
    return claim.removeprefix("Claim your seat: ").removeprefix(FORM)


def test_claiming_on_the_page_confirms_and_an_ended_offer_says_so(served):  # noqa: F811
    site = served
    with_window(site)
    site.mailer("run")
    cancel(site, "Daniel Reyes")
    site.mailer("run", now=CANCELLED_AT)
    line = next(x for x in site.sent() if x["kind"] == "offer" and x["to"] == BEN)
    plain = body_text(read_eml(site, line))
    link = re.search(r"Claim your seat: (\S+)", plain)
    assert link is not None, plain
    claim = urlsplit(link.group(1)).path

    page = site.client.get(claim)
    pressed = site.client.post(claim)
    site.mailer("run", now=CANCELLED_AT + timedelta(hours=1))
    again = site.client.post(claim)

    assert "Claim your seat?" in page.get_data(as_text=True)
    assert "The seat is yours" in pressed.get_data(as_text=True)
    assert "Already done" in again.get_data(as_text=True)
    assert sent_to(site, "promotion") == [BEN]
    assert row_of(site, "Ben Whitaker")["Status"] == "confirmed"


def test_the_claim_page_says_the_offer_ended_once_its_time_is_up(site):
    with_window(site)
    with_public_url(site, "https://seats.example.org")
    site.mailer("run")
    cancel(site, "Daniel Reyes")
    site.mailer("run", now=CANCELLED_AT)
    line = next(x for x in site.sent() if x["kind"] == "offer" and x["to"] == BEN)
    plain = body_text(read_eml(site, line))
    link = re.search(r"Claim your seat: (\S+)", plain)
    assert link is not None, plain
    claim = urlsplit(link.group(1)).path
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    late = CANCELLED_AT + timedelta(hours=12, minutes=1)  # before the next run passes it on
    app = create_app(
        settings.ledger.path, secret, "CCN", clock=lambda: late, claim_window=timedelta(hours=12)
    )

    pressed = app.test_client().post(claim)

    assert "This offer has ended" in pressed.get_data(as_text=True)


def test_cancelling_the_session_tells_the_person_holding_an_offer_too(offered):
    site = offered
    rows = site.rows("events")
    rows[0]["status"] = "cancelled"
    site.write_rows("events", rows)

    site.mailer("run", now=CANCELLED_AT + timedelta(hours=1))

    assert BEN in sent_to(site, "cancellation") and ROSA in sent_to(site, "cancellation")


def test_the_offer_says_until_when_in_the_sessions_zone(offered):
    site = offered

    line = next(x for x in site.sent() if x["kind"] == "offer")
    plain = body_text(read_eml(site, line))

    assert "until Tue Nov 24 21:05 CST" in plain
    assert "Claim your seat: " + FORM in plain
