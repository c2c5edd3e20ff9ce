"""Read, decide, then act: a tab that cannot be read stops its job before anything goes out."""

from __future__ import annotations

from collections import Counter

from conftest import NOW
from test_google_sheets import FORM_TAB, sheet  # noqa: F401 - the Sheets stand-in fixture

from mailer.ledger import open_ledger


def test_an_unreadable_subscribers_tab_stops_signups_before_any_email(site):
    (site.root / "lists" / "subscribers.csv").write_text("Name,Joined\nMaya,2026-11-20\n")
    before = (site.root / "lists" / "signups.csv").read_bytes()

    result = site.mailer("run", "signups")

    assert result.exit_code == 1
    assert "tab 'subscribers' has no column 'email'" in result.output
    assert "stopped before sending or writing anything" in result.output
    assert site.sent() == []
    assert (site.root / "lists" / "signups.csv").read_bytes() == before


def test_an_email_that_cannot_be_made_leaves_the_whole_pass_unrecorded(site):
    """The drafts are made as the ledger records them: the waitlist's fails after the first
    session's confirmations were made, and nothing of the pass is kept."""
    waitlist = site.root / "templates" / "waitlist.mjml"
    template = waitlist.read_text()
    waitlist.write_text(template.replace("{% endblock %}", "{{ no_such_value }}{% endblock %}"))

    result = site.mailer("run", "signups")

    assert result.exit_code == 1
    assert "no_such_value" in result.output
    with open_ledger(site.settings()) as ledger:
        assert ledger.seats() == []
        assert ledger.count_due() == 0
    assert site.sent() == []

    waitlist.write_text(template)
    site.mailer("run", "signups", now=NOW.replace(minute=5))

    assert Counter(line["kind"] for line in site.sent()) == {"confirmation": 12, "waitlist": 2}


def test_the_other_jobs_still_run_when_signups_stops(site):
    (site.root / "lists" / "subscribers.csv").write_text("Name,Joined\n")

    result = site.mailer("run")

    assert result.exit_code == 1
    assert "signups: tab 'subscribers'" in result.output
    assert "Reminders (reminders): 0 new, 0 sent." in result.output


def test_a_write_back_that_fails_after_sending_is_its_own_line(sheet):  # noqa: F811
    def refuse_writes(sheets):
        sheets.fail_next = [403]
        sheets.on_read = None

    sheet.sheets.on_read = refuse_writes

    report = sheet.run()

    assert report.delivered["sent"] == 14, "what went out is reported as sent"
    assert Counter(line["kind"] for line in sheet.site.sent()) == {
        "confirmation": 12,
        "waitlist": 2,
    }
    [failed] = report.failed_steps
    assert failed.startswith("sheet write-back failed: ")
    assert "14 sent" in report.summary()
    assert all(row.get("Status", "") == "" for row in sheet.signups())

    again = sheet.run(now=NOW.replace(minute=5))

    assert again.failed_steps == []
    assert again.delivered["sent"] == 0, "nothing is sent twice"
    assert Counter(row["Status"] for row in sheet.signups())["confirmed"] == 12
