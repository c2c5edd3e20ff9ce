"""Reminders: each offset once per confirmed seat, the latest one due on catch-up, none late."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailer.mail.emails import lead_time

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
    assert line["subject"] == (
        "Reminder: Community Support Conversation starts in 50 minutes (Wed Dec 2, 12:00 pm CST)"
    )
    assert "See you in 50 minutes, Daniel." in text
    assert "https://zoom.example.org/j/81234567890" in text
    assert "Can't make it after all? Reply to this email and we will give your seat" in text


def test_the_day_before_a_reminder_says_tomorrow(site):
    site.mailer("run")

    site.mailer("run", "reminders", now=START - timedelta(hours=24))

    subjects = Counter(line["subject"] for line in reminders(site))
    assert subjects == {
        "Reminder: Community Support Conversation starts tomorrow (Wed Dec 2, 12:00 pm CST)": 10,
        # the two confirmed who answered "Español", in their language and in Chicago's time
        "Recordatorio: Conversación de apoyo comunitario comienza mañana"
        " (mié, 2 dic, 12:00 CST)": 2,
    }


def test_a_reminder_sent_late_says_the_time_really_left_and_stands_in_for_the_next(site):
    site.mailer("run")

    # The runs of the day before were missed: the 24-hour reminder goes 61 minutes ahead.
    site.mailer("run", "reminders", now=START - timedelta(minutes=61))
    for minutes in (60, 45, 30):
        site.mailer("run", "reminders", now=START - timedelta(minutes=minutes))

    sent = reminders(site)
    assert Counter(line["key"].split(":")[0] for line in sent) == {"reminder-1440": 12}
    english = next(line for line in sent if line["subject"].startswith("Reminder"))
    text = (site.outbox / english["file"]).read_text()
    assert "starts in 61 minutes" in english["subject"]
    assert "See you in 61 minutes" in text
    assert "24 hours" not in text + english["subject"]


def test_a_reminder_sent_hours_late_is_still_followed_by_the_hour_before(site):
    site.mailer("run")

    site.mailer("run", "reminders", now=START - timedelta(hours=3))
    site.mailer("run", "reminders", now=START - timedelta(hours=1))

    sent = Counter((line["key"].split(":")[0], line["subject"]) for line in reminders(site))
    when, cuando = "(Wed Dec 2, 12:00 pm CST)", "(mié, 2 dic, 12:00 CST)"
    title, titulo = "Community Support Conversation", "Conversación de apoyo comunitario"
    assert sent == {
        ("reminder-1440", f"Reminder: {title} starts in 3 hours {when}"): 10,
        ("reminder-60", f"Reminder: {title} starts in 1 hour {when}"): 10,
        ("reminder-1440", f"Recordatorio: {titulo} comienza en 3 horas {cuando}"): 2,
        ("reminder-60", f"Recordatorio: {titulo} comienza en 1 hora {cuando}"): 2,
    }


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (timedelta(minutes=50), "in 50 minutes"),
        (timedelta(minutes=60), "in 1 hour"),
        (timedelta(minutes=61), "in 61 minutes"),
        (timedelta(hours=2, minutes=40), "in about 3 hours"),
        (timedelta(hours=11), "in 11 hours"),
        (timedelta(hours=13), "tomorrow"),
        (timedelta(hours=24), "tomorrow"),
        (timedelta(hours=49), "in 2 days"),
    ],
)
def test_the_wording_follows_the_time_really_left(left, said):
    start = START.astimezone(ZoneInfo("America/Chicago"))  # Wednesday 12:00 in Chicago

    assert lead_time(start, start - left) == said


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
