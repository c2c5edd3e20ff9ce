"""The command line as people type it: options where they put them, times in their zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from mailer.cli.commands import cli, parse_now


def test_config_is_taken_after_the_subcommand_too(site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no mailer.toml here: only --config finds the site

    argv = ["run", "--config", str(site.config), "--now", "2026-11-24T09:00", "--force"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert len(site.sent()) == 14


def test_a_time_without_an_offset_is_the_organizations_wall_clock():
    chicago = ZoneInfo("America/Chicago")

    assert parse_now("2026-12-02T11:00", chicago) == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert parse_now("2026-12-02T11:00+00:00", chicago) == datetime(2026, 12, 2, 11, tzinfo=UTC)


def test_status_shows_names_beside_masked_addresses(site):
    site.mailer("run")

    result = site.mailer("status")

    assert "Maya Okafor <m***@example.org>" in result.output
    assert "maya.okafor@example.org" not in result.output


def test_unsubscribe_refuses_what_is_not_an_address_and_changes_nothing(site):
    before = site.files()

    result = site.mailer("unsubscribe", "not-an-email")

    assert result.exit_code == 2
    assert "is not an email address (An email address must have an @-sign.)" in result.output
    assert site.files() == before


def test_unsubscribe_says_which_list_an_address_was_on(site):
    listed = site.mailer("unsubscribe", "Maya.Okafor@example.org")
    typo = site.mailer("unsubscribe", "maya.okafr@example.org")

    assert listed.exit_code == typo.exit_code == 0
    assert listed.output == "m***@example.org will get no more digests.\n"
    assert typo.output.startswith("m***@example.org will get no more digests.\n")
    assert "m***@example.org is on no list: not in the Subscribers tab, and no signup opted" in (
        " ".join(typo.output.split())
    )
