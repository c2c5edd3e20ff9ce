"""`--now` within bounds: a moment mailer cannot reckon with is refused, and a run far from
the clock sends nothing and uses up no slot unless it is forced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_a_moment_outside_the_years_mailer_reckons_with_is_a_clear_error(site):
    for typed in ("0001-01-01", "1900-01-01T00:00", "9999-12-31T23:59"):
        for command in ("run", "status", "jobs"):
            result = site.mailer(command, "--now", typed, now=None)

            assert result.exit_code == 2, result.output
            assert f"'{typed}' is outside the years mailer reckons with (1970 to 2199)" in (
                result.output
            )
    assert site.sent() == [] and site.sent(digests=True) == []


def test_a_run_decades_from_the_clock_asks_for_force_and_uses_up_no_slot(site):
    refused = site.mailer("run", "--now", "1990-01-01T00:00", now=None)
    looked = site.mailer("run", "--dry-run", "--now", "1990-01-01T00:00", now=None)
    this_week = site.mailer("run")  # as of the tests' Tuesday, forced

    assert refused.exit_code == 2
    assert "--now 1990-01-01T00:00 is " in refused.output
    assert " years from the clock" in refused.output
    assert "add --force if that is meant, or look first with --dry-run" in refused.output
    assert looked.exit_code == 0 and "Dry run as of Mon Jan 01 00:00 CST" in looked.output
    assert "Digest (digest), slot 2026-11-23: 3 new resources to 7 people; 7 sent." in (
        this_week.output
    )


def test_a_run_within_a_day_of_the_clock_needs_no_force(site):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # as a person at the terminal types it

    result = site.mailer("run", "signups", "--now", an_hour_ago.isoformat(), now=None)

    assert result.exit_code == 0, result.output
