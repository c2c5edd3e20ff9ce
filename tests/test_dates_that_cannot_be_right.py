"""Dates that cannot be right are problems, not decisions; a date that reads two ways is asked."""

from __future__ import annotations

import csv
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW

from mailer.sheet.tabs import AmbiguousDate, parse_date, parse_datetime

CHICAGO = ZoneInfo("America/Chicago")


def move_sessions(site, days: int) -> None:
    """Move every session of the sample by `days`, as an organizer typing in the sheet would."""
    path = site.root / "lists" / "events.csv"
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    for row in rows[1:]:
        for i in (3, 4):
            moment = parse_datetime(row[i], CHICAGO) + timedelta(days=days)
            row[i] = f"{moment:%Y-%m-%d %H:%M}"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def test_a_session_moved_to_last_week_changes_no_status_and_is_reported(site):
    move_sessions(site, -14)
    signups_before = (site.root / "lists" / "signups.csv").read_bytes()
    starts = site.rows("events")[0]["starts_at"]

    result = site.mailer("run", "signups")

    assert "No upcoming sessions" in result.output
    assert "events row 2, column 'starts_at': the session had already ended" in result.output
    assert "Its signups are left as they are" in result.output
    assert site.sent() == []
    assert (site.root / "lists" / "signups.csv").read_bytes() == signups_before, (
        "no Status, Position or Note written"
    )
    check = site.mailer("check")
    assert check.exit_code == 1
    assert "events row 2, column 'starts_at'" in check.output
    assert starts[:10] in check.output


def test_a_known_session_moved_before_all_its_signups_is_reported_and_left_alone(site):
    site.mailer("run", "signups")
    sheet_before = (site.root / "lists" / "signups.csv").read_bytes()
    sent_before = len(site.sent())
    move_sessions(site, -14)

    result = site.mailer("run", "signups", now=NOW + timedelta(minutes=5))

    assert "before any of its 15 signups was made" in result.output
    assert len(site.sent()) == sent_before, "no cancellation, no notice"
    assert (site.root / "lists" / "signups.csv").read_bytes() == sheet_before


def test_fixing_the_date_lets_the_session_go_through(site):
    move_sessions(site, -14)
    site.mailer("run", "signups")

    move_sessions(site, 14)
    result = site.mailer("run", "signups")

    assert "starts_at" not in result.output
    assert len(site.sent()) == 14
    assert site.mailer("check").exit_code == 0


def test_check_is_quiet_about_the_sample_as_it_is(site):
    result = site.mailer("check")

    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "order", "day"),
    [
        ("9/12/2026 12:00", "DMY", (2026, 12, 9)),
        ("9/12/2026 12:00", "MDY", (2026, 9, 12)),
        ("9.12.2026 12:00", "DMY", (2026, 12, 9)),
        ("19/11/2026 8:05:00", "", (2026, 11, 19)),
        ("11/19/2026 8:05:00", "", (2026, 11, 19)),
        ("2026/12/09 12:00", "", (2026, 12, 9)),
        ("12/12/2026", "", (2026, 12, 12)),
    ],
)
def test_dates_read_as_the_sheet_writes_them(text, order, day):
    moment = parse_datetime(text, CHICAGO, order)

    assert (moment.year, moment.month, moment.day) == day


def test_a_day_and_month_that_could_swap_are_asked_not_guessed():
    with pytest.raises(AmbiguousDate) as err:
        parse_datetime("9/12/2026 12:00", CHICAGO)

    assert "could be 12 September or 9 December 2026" in str(err.value)
    assert 'date_order = "DMY"' in str(err.value)
    with pytest.raises(AmbiguousDate):
        parse_date("3/4/2026")
    assert parse_date("3/4/2026", "DMY").month == 4


def test_a_date_that_is_not_in_the_sheets_order_says_so():
    with pytest.raises(ValueError, match="not a date in month/day/year order"):
        parse_datetime("19/11/2026 8:00", CHICAGO, "MDY")


def test_an_ambiguous_session_date_in_a_csv_without_date_order_is_a_problem(site):
    text = site.config.read_text().replace('date_order = "MDY"\n', "")
    site.config.write_text(text)
    path = site.root / "lists" / "events.csv"
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    rows[1][3], rows[1][4] = "2/12/2026 12:00", "2/12/2026 13:30"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)

    result = site.mailer("check")

    assert result.exit_code == 1
    assert "events row 2, column 'starts_at': '2/12/2026 12:00' could be" in result.output
