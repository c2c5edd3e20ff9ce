"""Wall-clock times on the events tab: a skipped time is refused, a repeated one read once."""

from __future__ import annotations

import email
from email import policy

from conftest import body_text


def move_session(site, starts_at: str, ends_at: str) -> None:
    """Set the sample session's start and end as an organizer types them (its zone: Chicago)."""
    rows = site.rows("events")
    rows[0].update(starts_at=starts_at, ends_at=ends_at)
    site.write_rows("events", rows)


def test_a_session_at_a_time_the_clocks_skip_is_a_row_problem_and_nobody_is_emailed(site):
    move_session(site, "2027-03-14 02:45", "2027-03-14 03:10")  # 2:00-3:00 am never happens

    result = site.mailer("run")

    assert (
        "events row 2, column 'starts_at': '2027-03-14 02:45' does not exist in America/Chicago:"
        " the clocks skip ahead there that night (CST to CDT); give a time that happens,"
        " such as 03:45"
    ) in result.output
    assert site.sent() == []
    assert not [row for row in site.rows() if row["Status"] in ("confirmed", "waitlisted")]


def test_mailer_check_fails_on_a_skipped_time(site):
    move_session(site, "2027-03-14 02:30", "2027-03-14 03:30")

    result = site.mailer("check")

    assert result.exit_code == 1
    assert "'2027-03-14 02:30' does not exist in America/Chicago" in result.output


def test_a_time_that_happens_twice_is_read_as_the_first_and_reported(site):
    # On 7 November 2027 Chicago's clocks go back from 2:00 CDT to 1:00 CST.
    move_session(site, "2027-11-07 01:30", "2027-11-07 02:30")
    warning = (
        "events row 2, column 'starts_at': '2027-11-07 01:30' happens twice in America/Chicago"
        " (the clocks go back, CDT to CST); read as the first, 01:30 CDT; for the second write"
        " 2027-11-07T01:30-06:00"
    )

    checked = site.mailer("check")
    result = site.mailer("run")

    assert checked.exit_code == 0, checked.output
    assert warning in checked.output
    assert warning in result.output
    confirmation = next(line for line in site.sent() if line["kind"] == "confirmation")
    message = email.message_from_bytes(
        (site.outbox / confirmation["file"]).read_bytes(), policy=policy.default
    )
    text = body_text(message)
    assert "2 hours on Zoom" in text, "01:30 CDT to 02:30 CST is two real hours"
    assert "Sunday, November 7, 2027, 1:30 am CDT–2:30 am CST" in text


def test_an_end_before_the_start_is_a_row_problem_even_when_the_clock_reads_later(site):
    # 01:50 CDT to 01:10 CDT: both read as the first 1 o'clock hour, so it ends before it starts.
    move_session(site, "2027-11-07 01:50", "2027-11-07 01:10")

    result = site.mailer("check")

    assert result.exit_code == 1
    assert (
        "events row 2, column 'ends_at': '2027-11-07 01:10' is not after starts_at"
        " '2027-11-07 01:50': give the session's end, later than its start"
    ) in result.output
