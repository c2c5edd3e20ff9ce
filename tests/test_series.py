"""A Series row keeps its next weeks of sessions as Events rows, with stable ids."""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW

SERIES_HEADER = (
    "id,title,weekday,start_time,end_time,timezone,capacity,join_url,signup_url,"
    "starts_on,ends_on,weeks\n"
)


def weekly(site, starts_on: str = "2026-11-30", **more: str) -> None:
    """Every Wednesday 12:00-13:30 Chicago from next week, 12 seats."""
    row = {
        "id": "wed",
        "title": "Community Support Conversation",
        "weekday": "Wednesday",
        "start_time": "12:00",
        "end_time": "13:30",
        "timezone": "America/Chicago",
        "capacity": "12",
        "join_url": "https://zoom.example.org/j/81234567890",
        "signup_url": "",
        "starts_on": starts_on,
        "ends_on": "",
        "weeks": "",
        **more,
    }
    (site.root / "lists" / "series.csv").write_text(
        SERIES_HEADER + ",".join(row.values()) + "\n", encoding="utf-8"
    )
    with site.config.open("a", encoding="utf-8") as handle:
        handle.write('\n[series]\nahead = "6 weeks"\n')


def series_rows(site) -> list[dict[str, str]]:
    return [row for row in site.rows("events") if row["id"].startswith("wed-")]


def test_six_weeks_ahead_are_six_events_rows(site):
    weekly(site)

    result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert [row["id"] for row in series_rows(site)] == [
        "wed-2026-12-02",
        "wed-2026-12-09",
        "wed-2026-12-16",
        "wed-2026-12-23",
        "wed-2026-12-30",
        "wed-2027-01-06",
    ]
    first = series_rows(site)[0]
    assert (first["starts_at"], first["ends_at"], first["capacity"]) == (
        "2026-12-02 12:00",
        "2026-12-02 13:30",
        "12",
    )
    assert first["label"] == "Wednesday, December 2 · 12:00–1:30 pm Central"


def test_a_second_run_adds_nothing_and_a_week_later_one_more(site):
    weekly(site)
    site.mailer("run", "signups")
    before = (site.root / "lists" / "events.csv").read_bytes()

    site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
    assert (site.root / "lists" / "events.csv").read_bytes() == before

    site.mailer("run", "signups", now=NOW + timedelta(days=7))
    assert len(series_rows(site)) == 7
    assert series_rows(site)[-1]["id"] == "wed-2027-01-13"


def test_a_cancelled_date_stays_cancelled_and_a_deleted_one_is_not_added_again(site):
    weekly(site)
    site.mailer("run", "signups")
    rows = site.rows("events")
    next(row for row in rows if row["id"] == "wed-2026-12-23")["status"] = "cancelled"
    site.write_rows("events", [row for row in rows if row["id"] != "wed-2026-12-30"])

    site.mailer("run", "signups", now=NOW + timedelta(days=1))

    by_id = {row["id"]: row for row in series_rows(site)}
    assert by_id["wed-2026-12-23"]["status"] == "cancelled"
    assert "wed-2026-12-30" not in by_id


def test_for_n_weeks_stops_the_series(site):
    weekly(site, weeks="3")

    site.mailer("run", "signups")

    assert [row["id"] for row in series_rows(site)] == [
        "wed-2026-12-02",
        "wed-2026-12-09",
        "wed-2026-12-16",
    ]


def test_a_bad_series_row_is_named_and_the_rest_goes_on(site):
    weekly(site, weekday="Someday")

    result = site.mailer("run", "signups")

    assert "series row 2, column 'weekday': 'Someday' is not a day of the week" in result.output
    assert result.exit_code == 0
    assert not series_rows(site)
