"""What recipients get: MIME structure, escaping, donation details, one compile per body."""

from __future__ import annotations

import email
import re
from email import policy

from conftest import NOW, body_text

from mailer.jobs.runner import run_job
from mailer.ledger import open_ledger
from mailer.settings.config import SIGNUPS_JOB
from mailer.site import Site


def read_eml(site, line) -> email.message.EmailMessage:
    return email.message_from_bytes(
        (site.outbox / line["file"]).read_bytes(), policy=policy.default
    )


def message_to(site, address: str) -> email.message.EmailMessage:
    return read_eml(site, next(line for line in site.sent() if line["to"] == address))


def test_each_email_is_multipart_alternative_with_an_invitation(site):
    site.mailer("run")

    mail = message_to(site, "daniel.reyes@example.org")

    assert mail["Subject"].strip() == (
        "You're confirmed: Community Support Conversation, Wed Dec 2, 12:00 pm CST"
    )
    assert mail["From"] == "Community Care Network <sessions@example.org>"
    assert mail["To"] == "Daniel Reyes <daniel.reyes@example.org>"
    assert mail["Reply-To"] == "organizers@example.org"
    assert mail["Message-ID"].endswith("@example.org>") and mail["Date"]
    assert mail.get_content_type() == "multipart/mixed"
    assert "You have a seat, Daniel." in body_text(mail)
    assert "https://zoom.example.org/j/81234567890" in body_text(mail)
    assert '<html lang="en"' in body_text(mail, "html")
    invite = next(p for p in mail.iter_attachments() if p.get_filename() == "invite.ics")
    assert "DTSTART;TZID=America/Chicago:20261202T120000" in invite.get_content()


def test_non_members_are_asked_for_a_donation_and_members_are_not(site):
    site.mailer("run")

    non_member = body_text(message_to(site, "daniel.reyes@example.org"))
    member = body_text(message_to(site, "maya.okafor@example.org"))

    assert "donation of $15–25" in non_member
    assert "the Community Legal Defense Fund" in non_member
    assert "donation" not in member.lower()


def test_no_tracking_pixels_no_web_fonts(site):
    site.mailer("run")

    for line in site.sent():
        html = (site.outbox / line["file"]).with_suffix(".html").read_text()
        assert "<img" not in html
        assert "fonts.googleapis.com" not in html


def test_a_run_compiles_each_body_once_not_once_per_person(site):
    built = Site.from_settings(site.settings())
    ledger = open_ledger(site.settings().ledger.path)

    report = run_job(built, ledger, SIGNUPS_JOB, NOW)

    assert sum(report.delivered.values()) == 14
    # confirmation for members, for non-members, and the waitlist notice, in English; the
    # confirmation for non-members and the waitlist notice in Spanish (the sample's "Español")
    assert built.renderer.compiles == 5


def test_outbox_index_names_each_message(site):
    site.mailer("run")

    line = next(line for line in site.sent() if line["kind"] == "waitlist")

    assert set(line) == {"key", "kind", "event", "to", "subject", "file"}
    assert line["key"] == f"waitlist:{line['event']}:{line['to']}"
    assert (site.outbox / line["file"]).exists()


def test_an_index_line_a_killed_run_left_half_written_is_cut_off_by_the_next_run(site):
    site.mailer("run")
    index = site.outbox / "index.jsonl"
    whole = index.read_bytes()
    index.write_bytes(whole + b'{"key": "confirmation:ccs-2026-12-02:dan')

    result = site.mailer("run", "--force")

    assert result.exit_code == 0, result.output
    assert index.read_bytes() == whole


def test_the_confirmation_says_what_to_expect_from_the_sites_settings(site):
    site.mailer("run")

    text = body_text(message_to(site, "daniel.reyes@example.org"))
    assert "What to expect:" in text
    assert "What is shared in the room stays in the room" in text
    assert "Cameras are optional" in text and "captions" in text


def test_a_site_that_says_nothing_of_what_to_expect_leaves_it_out(site):
    site.config.write_text(
        re.sub(r"what_to_expect.en = \[[^\]]*\]", "what_to_expect.en = []", site.config.read_text())
    )

    site.mailer("run")

    shown = message_to(site, "daniel.reyes@example.org")
    assert "What to expect" not in body_text(shown)
    assert "What to expect" not in body_text(shown, "html")
