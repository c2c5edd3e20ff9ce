"""People manage their own seat: a release link in their email, answered on mailer's page or a form.

The sample site: 12 confirmed, Ben Whitaker first and Rosa Jiménez second
on the waitlist. Links carry a token signed with the site's secret, never an
address.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

import pytest
import waitress
from conftest import NOW, SiteDir, body_text, with_public_url
from fake_sheets import serial
from test_emails import read_eml
from test_google_sheets import sheet  # noqa: F401 (the Google Sheet stand-in fixture)
from test_ledger_upgrade import without_counting
from test_unsubscribe import CHROMIUM, CHROMIUM_ARGS

from mailer.core.tokens import load_secret
from mailer.ledger import open_ledger
from mailer.ledger.migrations import SCHEMA_VERSION
from mailer.rules.self_service import SeatRef
from mailer.web.app import create_app

FORM = "https://docs.google.com/forms/d/e/1FAIpQLSe-sample/viewform?usp=pp_url&entry.123456="
START = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)  # the sample session: 12:00 in Chicago
DANIEL, BEN, ROSA = (
    "daniel.reyes@example.org",
    "ben.whitaker@example.org",
    "rosa.jimenez@example.org",
)


def with_form(site: SiteDir, url: str = FORM) -> None:
    site.config.write_text(site.config.read_text().replace('form_url = ""', f'form_url = "{url}"'))


def text_of(site: SiteDir, line: dict) -> str:
    message = read_eml(site, line)
    return body_text(message)


def link_in(site: SiteDir, kind: str, address: str) -> str:
    """The release link in the plain-text part of the email of `kind` to `address`."""
    line = next(x for x in site.sent() if x["kind"] == kind and x["to"] == address)
    text = text_of(site, line)
    link = re.search(r"(https?://\S+(?:/seat/|entry\.123456=)\S+)", text)
    assert link is not None, text
    return link.group(1)


def kinds(site: SiteDir) -> Counter:
    return Counter(line["kind"] for line in site.sent())


def row_of(site: SiteDir, name: str) -> dict[str, str]:
    return next(row for row in site.rows() if row["Name"] == name)


def calendar_part(site: SiteDir, line: dict) -> tuple[str, str]:
    """The method parameter of an email's text/calendar part, and its ATTENDEE's address."""
    message = read_eml(site, line)
    part = next(p for p in message.iter_attachments() if p.get_content_type() == "text/calendar")
    ics = cast(bytes, part.get_payload(decode=True)).decode()
    attendee = re.search(r"ATTENDEE[^:]*:mailto:(\S+)", ics.replace("\r\n ", ""))
    assert attendee is not None, ics
    return cast(str, part.get_param("method")), attendee.group(1)


def answer_form(site: SiteDir, *tokens: str, answered: str = "11/24/2026 10:15:00") -> None:
    """Rows in the releases tab, as the Google Form writes them."""
    rows = [{"Timestamp": answered, "token": token} for token in tokens]
    site.write_rows("releases", rows)


@pytest.fixture
def served(site):
    """`mailer serve` on a loopback port, the site's public_url pointing at it."""
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    clock = {"now": NOW}
    app = create_app(
        settings.ledger.path, secret, settings.organization.name, clock=lambda: clock["now"]
    )
    server = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=2, asyncore_loop_timeout=0.05
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with_public_url(site, f"http://127.0.0.1:{server.effective_port}")
    site.clock = clock
    site.client = app.test_client()
    yield site
    server.close()
    thread.join(timeout=5)


def test_with_neither_a_server_nor_a_form_the_emails_say_reply(site):
    site.mailer("run")

    text = text_of(site, next(x for x in site.sent() if x["to"] == DANIEL))
    assert "Reply to this email and we will give your seat" in text
    assert "/seat/" not in text


def test_links_carry_a_token_and_no_address(served):
    site = served
    site.mailer("run")

    release = link_in(site, "confirmation", DANIEL)
    leave = link_in(site, "waitlist", BEN)
    assert "Can't make it? Release your seat" in text_of(
        site, next(x for x in site.sent() if x["to"] == DANIEL)
    )
    assert "Leave the waitlist" in text_of(site, next(x for x in site.sent() if x["to"] == BEN))
    for link in (release, leave):
        assert "daniel" not in link and "ben" not in link and "%40" not in link
        assert re.fullmatch(r"/seat/[A-Za-z0-9_-]{32}", urlsplit(link).path)
    assert release != leave


def test_the_page_shows_one_button_and_a_get_changes_nothing(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path

    page = site.client.get(path)
    site.mailer("run", now=NOW + timedelta(minutes=5))

    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Release your seat?" in html
    assert '<form method="post"><button type="submit">Release my seat</button></form>' in html
    assert "daniel" not in html.casefold() and "<script" not in html
    assert row_of(site, "Daniel Reyes")["Status"] == "confirmed"
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}


def test_a_release_on_the_page_promotes_the_first_waitlisted_and_acknowledges(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path

    pressed = site.client.post(path)
    site.mailer("run", now=NOW + timedelta(minutes=5))

    assert "Your seat is released" in pressed.get_data(as_text=True)
    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "promotion": 1, "released": 1}
    assert [x["to"] for x in site.sent() if x["kind"] == "promotion"] == [BEN]
    daniel = row_of(site, "Daniel Reyes")
    assert daniel["Status"] == "cancelled"
    assert daniel["Note"] == "released by the person on 2026-11-24"
    assert row_of(site, "Rosa Jiménez")["Position"] == "1"
    ack = next(x for x in site.sent() if x["kind"] == "released")
    assert ack["to"] == DANIEL and ack["subject"].startswith("Your seat is released")
    assert calendar_part(site, ack) == ("CANCEL", DANIEL)


def test_a_second_press_changes_nothing_more(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path
    site.client.post(path)
    site.mailer("run", now=NOW + timedelta(minutes=5))

    again = site.client.post(path)
    site.mailer("run", now=NOW + timedelta(minutes=10))

    assert "Already done" in again.get_data(as_text=True)
    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "promotion": 1, "released": 1}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: "x" * 32,
        lambda token: token[:20],
    ],
    ids=["altered", "foreign", "cut short"],
)
def test_a_tampered_token_is_refused_and_changes_nothing(served, tamper):
    site = served
    site.mailer("run")
    token = link_in(site, "confirmation", DANIEL).rsplit("/", 1)[1]

    shown = site.client.get(f"/seat/{tamper(token)}")
    pressed = site.client.post(f"/seat/{tamper(token)}")
    site.mailer("run", now=NOW + timedelta(minutes=5))

    assert shown.status_code == pressed.status_code == 404
    assert "This link is not valid" in pressed.get_data(as_text=True)
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}
    assert row_of(site, "Daniel Reyes")["Status"] == "confirmed"


def test_after_the_start_the_page_says_so_and_changes_nothing(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path
    site.clock["now"] = START + timedelta(minutes=1)

    pressed = site.client.post(path)
    site.mailer("run", now=START + timedelta(minutes=5))

    assert "This session has started" in pressed.get_data(as_text=True)
    assert row_of(site, "Daniel Reyes")["Status"] == "confirmed"
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}


def test_leaving_the_waitlist_renumbers_it_and_acknowledges_once(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "waitlist", BEN)).path

    page = site.client.get(path)
    site.client.post(path)
    site.mailer("run", now=NOW + timedelta(minutes=5))
    site.mailer("run", now=NOW + timedelta(minutes=10))

    assert "Leave the waitlist?" in page.get_data(as_text=True)
    assert row_of(site, "Ben Whitaker")["Status"] == "cancelled"
    assert row_of(site, "Rosa Jiménez")[("Status")] == "waitlisted"
    assert row_of(site, "Rosa Jiménez")["Position"] == "1"
    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "released": 1}
    ack = read_eml(site, next(x for x in site.sent() if x["kind"] == "released"))
    assert ack["Subject"].startswith("You've left the waitlist")
    assert not any(p.get_content_type() == "text/calendar" for p in ack.iter_attachments())


def test_a_release_form_answer_has_the_same_outcome_and_twice_promotes_once(site):
    with_form(site)
    site.mailer("run")
    link = link_in(site, "confirmation", DANIEL)
    assert link.startswith(FORM)
    token = link.removeprefix(FORM)

    answer_form(site, token, token)
    site.mailer("run", now=NOW + timedelta(minutes=5))
    site.mailer("run", now=NOW + timedelta(minutes=10))

    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "promotion": 1, "released": 1}
    assert [x["to"] for x in site.sent() if x["kind"] == "promotion"] == [BEN]
    assert row_of(site, "Daniel Reyes")["Status"] == "cancelled"
    assert row_of(site, "Daniel Reyes")["Note"] == "released by the person on 2026-11-24"


def test_a_form_answer_that_mailer_did_not_make_is_reported_and_changes_nothing(site):
    with_form(site)
    site.mailer("run")
    token = link_in(site, "confirmation", DANIEL).removeprefix(FORM)

    answer_form(site, token[:-1] + ("A" if token[-1] != "A" else "B"))
    result = site.mailer("run", now=NOW + timedelta(minutes=5))

    assert "releases row 2: not a link mailer made" in result.output
    assert kinds(site) == {"confirmation": 12, "waitlist": 2}


def test_an_organizers_cancel_is_acknowledged_unless_turned_off(site):
    site.config.write_text(
        site.config.read_text().replace(
            "acknowledge_organizer_cancels = true", "acknowledge_organizer_cancels = false"
        )
    )
    site.mailer("run")
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Daniel Reyes")["Status"] = "cancelled"
    site.write_rows("signups", rows)

    site.mailer("run", now=NOW + timedelta(minutes=5))

    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "promotion": 1}
    assert row_of(site, "Daniel Reyes")["Note"] == ""


@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (make test installs it)")
def test_releasing_in_a_real_browser_promotes_once(served):
    from playwright.sync_api import sync_playwright

    site = served
    site.mailer("run")
    link = link_in(site, "confirmation", DANIEL)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(link)
        title = page.title()
        page.get_by_role("button", name="Release my seat").click()
        page.wait_for_load_state()
        released = page.locator("h1").inner_text()
        site.mailer("run", now=NOW + timedelta(minutes=5))
        page.goto(link)
        again = page.locator("h1").inner_text()
        page.goto(link[:-1] + ("A" if link[-1] != "A" else "B"))
        refused = page.locator("h1").inner_text()
        browser.close()
    site.mailer("run", now=NOW + timedelta(minutes=10))

    assert (title, released, again, refused) == (
        "Release your seat?",
        "Your seat is released",
        "Already done",
        "This link is not valid",
    )
    assert kinds(site) == {"confirmation": 12, "waitlist": 2, "promotion": 1, "released": 1}
    assert [x["to"] for x in site.sent() if x["kind"] == "promotion"] == [BEN]
    ack = next(x for x in site.sent() if x["kind"] == "released")
    assert ack["to"] == DANIEL
    assert calendar_part(site, ack) == ("CANCEL", DANIEL)
    assert row_of(site, "Daniel Reyes")["Status"] == "cancelled"


def test_requests_are_kept_once_in_the_ledger(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path
    site.client.post(path)
    site.client.post(path)

    ledger = open_ledger(site.settings().ledger.path)
    try:
        waiting = ledger.open_requests()
    finally:
        ledger.close()
    assert [(r.action, r.email) for r in waiting] == [("release", DANIEL)]


def test_a_release_form_answer_in_a_google_sheet_promotes_once(sheet):  # noqa: F811
    with_form(sheet.site)
    releases = sheet.sheets.add_tab("releases", [["Timestamp", "token"]])  # the form's tab
    sheet.run()
    token = link_in(sheet.site, "confirmation", DANIEL).removeprefix(FORM)
    answered = serial(datetime(2026, 11, 24, 9, 15))

    releases.grid.append([answered, token])
    sheet.run(now=NOW + timedelta(minutes=5))
    releases.grid.append([answered + 0.01, token])
    sheet.run(now=NOW + timedelta(minutes=10))

    assert kinds(sheet.site) == {
        "confirmation": 12,
        "waitlist": 2,
        "promotion": 1,
        "released": 1,
    }
    after = {r["Name"]: (r["Status"], r["Note"]) for r in sheet.signups()}
    assert after["Daniel Reyes"] == ("cancelled", "released by the person on 2026-11-24")
    assert after["Ben Whitaker"][0] == "confirmed"


def test_a_form_url_that_still_holds_the_sample_answer_is_refused_by_name(site):
    with_form(site, FORM + "TOKEN")

    result = site.mailer("check")

    assert result.exit_code != 0
    assert "[self_service] form_url" in result.output and "drop the sample answer" in result.output


def test_a_cancelled_session_page_says_so_and_changes_nothing(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path
    rows = site.rows("events")
    rows[0]["status"] = "cancelled"
    site.write_rows("events", rows)
    site.mailer("run", now=NOW + timedelta(minutes=5))

    pressed = site.client.post(path)

    assert "This session is cancelled" in pressed.get_data(as_text=True)
    ledger = open_ledger(site.settings().ledger.path)
    try:
        assert ledger.open_requests() == []
    finally:
        ledger.close()


def test_a_reminder_carries_the_release_link_too(served):
    site = served
    site.mailer("run")

    site.mailer("run", "reminders", now=START - timedelta(minutes=50))

    reminder = next(x for x in site.sent() if x["kind"] == "reminder" and x["to"] == DANIEL)
    text = text_of(site, reminder)
    assert "Can't make it? Release your seat" in text
    assert link_in(site, "reminder", DANIEL) == link_in(site, "confirmation", DANIEL)


def test_a_ledger_from_before_requests_existed_is_upgraded_in_place(tmp_path):
    path = tmp_path / "mailer.db"
    open_ledger(path).close()
    older = sqlite3.connect(path)
    without_counting(older)
    older.executescript(
        "DROP TABLE requests; DROP TABLE job_runs; ALTER TABLE messages DROP COLUMN holder;"
        " ALTER TABLE messages DROP COLUMN lease_until; ALTER TABLE seats DROP COLUMN place;"
        " ALTER TABLE seats DROP COLUMN language; ALTER TABLE events DROP COLUMN titles;"
    )
    older.execute("PRAGMA user_version = 3")
    older.close()

    ledger = open_ledger(path)
    try:
        added = ledger.add_request("t" * 32, SeatRef("release", "e", "a@x.org"), NOW, "web")
        again = ledger.add_request("t" * 32, SeatRef("release", "e", "a@x.org"), NOW, "web")
        version = ledger.schema_version()
    finally:
        ledger.close()
    assert (added, again, version) == (True, False, SCHEMA_VERSION)


def sequence_of(site: SiteDir, line: dict) -> int:
    """The SEQUENCE of an email's calendar part: a calendar keeps the highest it has seen."""
    message = read_eml(site, line)
    part = next(p for p in message.iter_attachments() if p.get_content_type() == "text/calendar")
    ics = cast(bytes, part.get_payload(decode=True)).decode()
    sequence = re.search(r"SEQUENCE:(\d+)", ics)
    assert sequence is not None, ics
    return int(sequence.group(1))


def confirm_by_hand(site: SiteDir, name: str) -> None:
    """An organizer types `confirmed` in a row's Status cell."""
    rows = site.rows()
    row_of_name = next(row for row in rows if row["Name"] == name)
    row_of_name["Status"] = "confirmed"
    site.write_rows("signups", rows)


def to_daniel(site: SiteDir, kind: str) -> list[dict]:
    return [x for x in site.sent() if x["kind"] == kind and x["to"] == DANIEL]


def test_a_released_seat_an_organizer_confirms_again_is_theirs_again(served):
    site = served
    site.mailer("run")
    path = urlsplit(link_in(site, "confirmation", DANIEL)).path
    site.client.post(path)
    site.mailer("run", now=NOW + timedelta(minutes=5))

    confirm_by_hand(site, "Daniel Reyes")
    site.mailer("run", now=NOW + timedelta(minutes=10))
    site.mailer("run", now=NOW + timedelta(minutes=15))
    page = site.client.get(path)

    first, again = to_daniel(site, "confirmation")
    (cancel,) = to_daniel(site, "released")
    assert again["subject"].startswith("You're confirmed")
    assert calendar_part(site, again) == ("REQUEST", DANIEL)
    assert sequence_of(site, first) < sequence_of(site, cancel) < sequence_of(site, again)
    daniel = row_of(site, "Daniel Reyes")
    assert (daniel["Status"], daniel["Note"]) == ("confirmed", "")
    assert "Release your seat?" in page.get_data(as_text=True)

    site.clock["now"] = NOW + timedelta(minutes=20)
    pressed = site.client.post(path)
    site.mailer("run", now=NOW + timedelta(minutes=25))

    assert "Your seat is released" in pressed.get_data(as_text=True)
    acks = to_daniel(site, "released")
    assert len(acks) == 2 and sequence_of(site, acks[-1]) > sequence_of(site, again)
    daniel = row_of(site, "Daniel Reyes")
    assert (daniel["Status"], daniel["Note"]) == (
        "cancelled",
        "released by the person on 2026-11-24",
    )
    assert len(to_daniel(site, "confirmation")) == 2


def test_an_old_form_answer_does_not_release_a_seat_confirmed_again(site):
    with_form(site)
    site.mailer("run")
    token = link_in(site, "confirmation", DANIEL).removeprefix(FORM)
    answer_form(site, token)
    site.mailer("run", now=NOW + timedelta(minutes=5))

    confirm_by_hand(site, "Daniel Reyes")
    site.mailer("run", now=NOW + timedelta(minutes=10))
    site.mailer("run", now=NOW + timedelta(minutes=15))
    kept = row_of(site, "Daniel Reyes")["Status"]
    answer_form(site, token, token, answered="11/24/2026 09:20:00")
    site.mailer("run", now=NOW + timedelta(minutes=25))

    assert kept == "confirmed", "the answer acted on before stays acted on"
    assert row_of(site, "Daniel Reyes")["Status"] == "cancelled", "a new answer releases it again"
    assert len(to_daniel(site, "released")) == 2 and len(to_daniel(site, "confirmation")) == 2
