"""Read, decide, then act: a tab that cannot be read stops its job before anything goes out."""

from __future__ import annotations

from collections import Counter

from conftest import NOW
from test_google_sheets import FORM_TAB, sheet  # noqa: F401 - the Sheets stand-in fixture


def test_an_unreadable_subscribers_tab_stops_signups_before_any_email(site):
    (site.root / "lists" / "subscribers.csv").write_text("Name,Joined\nMaya,2026-11-20\n")
    before = (site.root / "lists" / "signups.csv").read_bytes()

    result = site.mailer("run", "signups")

    assert result.exit_code == 1
    assert "tab 'subscribers' has no column 'email'" in result.output
    assert "stopped before sending or writing anything" in result.output
    assert site.sent() == []
    assert (site.root / "lists" / "signups.csv").read_bytes() == before


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
