"""Reminders: each offset once per confirmed seat, the latest one due on catch-up, none late."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

# The sample session: Wednesday 2026-12-02 12:00 America/Chicago (18:00 UTC).
START = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def reminders(site) -> list[dict[str, str]]:
    return [line for line in site.sent() if line["kind"] == "reminder"]


def steps(start: datetime, end: datetime, every: timedelta):
    moment = start
    while moment <= end:
        yield moment
        moment += every


def test_stepping_through_the_day_before_sends_one_of_each(site):
    site.mailer("run")

    for moment in steps(
        START - timedelta(hours=26), START + timedelta(hours=2), timedelta(minutes=15)
    ):
        assert site.mailer("run", "reminders", now=moment).exit_code == 0

    sent = Counter((line["to"], line["key"].split(":")[0]) for line in reminders(site))
    confirmed = {row["Email Address"] for row in site.rows() if row["Status"] == "confirmed"}
    assert len(confirmed) == 12
    assert sent == {(to, kind): 1 for to in confirmed for kind in ("reminder-1440", "reminder-60")}


def test_a_reminder_says_how_soon_and_gives_the_link(site):
    site.mailer("run")
    site.mailer("run", "reminders", now=START - timedelta(minutes=50))

    line = next(line for line in reminders(site) if line["to"] == "daniel.reyes@example.org")
    text = (site.outbox / line["file"]).read_text()
    assert line["subject"].startswith("Reminder: Community Support Conversation starts in 1 hour")
    assert "https://zoom.example.org/j/81234567890" in text
    assert "Can't make it after all? Reply to this email and we will give your seat" in text


def test_after_missed_runs_only_the_latest_reminder_goes(site):
    site.mailer("run")

    site.mailer("run", "reminders", now=START - timedelta(minutes=15))

    assert Counter(line["key"].split(":")[0] for line in reminders(site)) == {"reminder-60": 12}


def test_a_missed_day_before_still_gets_its_reminder_late(site):
    site.mailer("run")

    site.mailer("run", "reminders", now=START - timedelta(hours=20))

    assert Counter(line["key"].split(":")[0] for line in reminders(site)) == {"reminder-1440": 12}


def test_no_reminder_after_the_start(site):
    site.mailer("run")

    site.mailer("run", "reminders", now=START + timedelta(minutes=1))

    assert reminders(site) == []


def test_no_reminder_to_a_cancelled_seat_or_the_waitlist(site):
    site.mailer("run")
    rows = site.rows()
    next(row for row in rows if row["Name"] == "Daniel Reyes")["Status"] = "cancelled"
    site.write_rows("signups", rows)

    site.mailer("run", now=START - timedelta(hours=23))

    reminded = {line["to"] for line in reminders(site)}
    assert "daniel.reyes@example.org" not in reminded
    assert "rosa.jimenez@example.org" not in reminded
    # Ben took Daniel's seat in the same run: his promotion came after the 24-hour
    # mark, so it stands in for that reminder.
    assert "ben.whitaker@example.org" not in reminded
    assert len(reminded) == 11


def test_run_without_a_job_runs_signups_then_reminders(site):
    result = site.mailer("run", now=START - timedelta(hours=23))

    # Confirmed after the 24-hour mark: the confirmation stands in for that reminder.
    kinds = Counter(line["kind"] for line in site.sent())
    assert kinds == {"confirmation": 12, "waitlist": 2}
    assert result.output.index("Emails: 14 new") < result.output.index("Reminders (reminders)")
    assert "Reminders (reminders): 0 new" in result.output


def test_an_unknown_job_names_the_jobs_there_are(site):
    result = site.mailer("run", "digests")

    assert result.exit_code == 2
    assert "no job named 'digests' (jobs: signups, reminders, digest)" in result.output


def test_a_bad_offset_names_the_file_and_key(site):
    (site.root / "jobs" / "reminders.toml").write_text(
        'kind = "reminders"\nevery = "15 minutes"\n[options]\noffsets = ["24 hours", "soon"]\n'
    )

    result = site.mailer("run")

    assert result.exit_code == 2
    assert (
        "reminders.toml: [options] offsets[1]: 'soon': expected a duration from 1 minute"
        in result.output
    )
