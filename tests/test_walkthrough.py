"""The newcomer's walkthrough: sample signups to confirmations, then an organizer's edits."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from conftest import NOW


def test_first_run_confirms_twelve_and_waitlists_two(site):
    result = site.mailer("run")

    assert result.exit_code == 0, result.output
    kinds = Counter(line["kind"] for line in site.sent())
    assert kinds == {"confirmation": 12, "waitlist": 2}
    assert len(list(site.outbox.glob("confirmation*.eml"))) == 12
    assert len(list(site.outbox.glob("waitlist*.eml"))) == 2
    assert len(list(site.outbox.glob("*.eml"))) == len(list(site.outbox.glob("*.html")))
    statuses = Counter(row["Status"] for row in site.rows())
    assert statuses == {"confirmed": 12, "waitlisted": 2, "duplicate": 1, "invalid": 1}
    assert all(row["Status"] for row in site.rows())


def test_summary_names_the_rejected_row_and_why(site):
    result = site.mailer("run")

    assert "12/12" in result.output
    assert "signups row 10, column 'Email Address': not a valid email address" in result.output


def test_waitlisted_people_get_their_place_in_line(site):
    site.mailer("run")

    waiting = [row for row in site.rows() if row["Status"] == "waitlisted"]
    assert [(row["Name"], row["Position"]) for row in waiting] == [
        ("Ben Whitaker", "1"),
        ("Rosa Jiménez", "2"),
    ]
    email = next(line for line in site.sent() if line["to"] == "ben.whitaker@example.org")
    assert "number 1 on the waitlist" in (site.outbox / email["file"]).read_text()


def test_duplicate_and_invalid_rows_say_why(site):
    site.mailer("run")

    notes = {row["Status"]: row["Note"] for row in site.rows()}
    assert notes["duplicate"] == "same person as row 2"
    assert notes["invalid"].startswith("not a valid email address")


def test_second_run_sends_nothing_new_and_writes_nothing(site):
    site.mailer("run")
    before = (site.root / "lists" / "signups.csv").read_bytes()

    result = site.mailer("run", now=NOW + timedelta(minutes=5))

    assert result.exit_code == 0
    assert len(site.sent()) == 14
    assert "0 new, 0 sent" in result.output
    assert (site.root / "lists" / "signups.csv").read_bytes() == before


def test_cancelling_a_seat_promotes_the_first_waitlisted_once(site):
    site.mailer("run")
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Daniel Reyes")["Status"] = "cancelled"
    site.write_rows("signups", rows)

    site.mailer("run", now=NOW + timedelta(hours=1))
    promotions = [line for line in site.sent() if line["kind"] == "promotion"]
    site.mailer("run", now=NOW + timedelta(hours=2))

    assert [p["to"] for p in promotions] == ["ben.whitaker@example.org"]
    acknowledged = [line["to"] for line in site.sent() if line["kind"] == "released"]
    assert acknowledged == ["daniel.reyes@example.org"]
    assert len(site.sent()) == 16
    after = {row["Name"]: (row["Status"], row["Position"]) for row in site.rows()}
    assert after["Daniel Reyes"] == ("cancelled", "")
    assert after["Ben Whitaker"] == ("confirmed", "")
    assert after["Rosa Jiménez"] == ("waitlisted", "1")


def test_organizer_confirming_a_waitlisted_row_promotes_past_capacity(site):
    site.mailer("run")
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Rosa Jiménez")["Status"] = "confirmed"
    site.write_rows("signups", rows)

    result = site.mailer("run", now=NOW + timedelta(hours=1))

    promotions = [line["to"] for line in site.sent() if line["kind"] == "promotion"]
    assert promotions == ["rosa.jimenez@example.org"]
    assert "13/12" in result.output
    assert "nobody is bumped" in result.output


def test_no_promotion_after_the_session_starts(site):
    site.mailer("run")
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Daniel Reyes")["Status"] = "cancelled"
    site.write_rows("signups", rows)

    site.mailer("run", now=NOW + timedelta(days=8, hours=3))

    assert not [line for line in site.sent() if line["kind"] == "promotion"]


def test_init_leaves_an_existing_workbook_alone(site):
    site.mailer("run")
    before = (site.root / "lists" / "signups.csv").read_bytes()

    result = site.mailer("init")

    assert "left it alone" in result.output
    assert (site.root / "lists" / "signups.csv").read_bytes() == before


def test_status_shows_the_roster_without_addresses(site):
    site.mailer("run")

    table = site.mailer("status")
    data = site.mailer("status", "--json")

    assert "12/12 confirmed, 2 waitlisted" in table.output
    assert "@example.org" in table.output and "ben.whitaker@" not in table.output
    seats = json.loads(data.output)["events"][0]["seats"]
    assert Counter(s["status"] for s in seats) == {"confirmed": 12, "waitlisted": 2}


def test_status_as_of_after_the_session_lists_it_only_with_all(site):
    site.mailer("run")
    later = NOW + timedelta(days=9)

    assert "Nothing" in site.mailer("status", now=later).output
    assert "12/12 confirmed" in site.mailer("status", "--all", now=later).output


def test_a_failing_job_is_reported_and_the_other_jobs_still_run(site):
    (site.root / "lists" / "signups.csv").unlink()

    result = site.mailer("run")

    assert result.exit_code == 1
    assert "error: signups: the workbook has no tab 'signups'" in result.output
    assert "Reminders (reminders)" in result.output
    assert "Digest (digest)" in result.output
