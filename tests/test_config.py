"""mailer.toml mistakes are one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli.commands import cli
from mailer.core.errors import ConfigError
from mailer.settings import config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailer.toml"
    path.write_text('[organization]\nname = "N"\nsender = "s@example.org"\n' + text)
    return path


def test_relative_paths_resolve_against_the_file_folder(tmp_path):
    settings = config.load(write(tmp_path, '[workbook]\npath = "data"\n'))

    assert settings.workbook.path == tmp_path.resolve() / "data"
    assert settings.transport.path == tmp_path.resolve() / "outbox"
    assert settings.ledger.path == tmp_path.resolve() / "state" / "mailer.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[workbook]\npathh = "x"\n', "[workbook] pathh: unknown key"),
        ('[donation]\nminimum = "15"\n', "[donation] minimum: expected int, got str '15'"),
        (
            '[transport]\nbackend = "pigeon"\n',
            "[transport] backend: 'pigeon': expected one of outbox",
        ),
        ('[workbook.columns.signups]\nemial = "E"\n', "[workbook.columns.signups] emial: unknown"),
        ('[workbook.tabs]\nsignup = "Form Responses 1"\n', "[workbook.tabs] signup: unknown tab"),
    ],
)
def test_a_wrong_key_or_type_names_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, text))

    assert str(err.value).startswith(str(tmp_path / "mailer.toml"))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_required_key_is_named(tmp_path):
    path = tmp_path / "mailer.toml"
    path.write_text('[organization]\nname = "N"\n')

    with pytest.raises(ConfigError, match=r"\[organization\] sender: missing"):
        config.load(path)


def test_an_unknown_time_zone_is_named(tmp_path):
    path = tmp_path / "mailer.toml"
    path.write_text(
        '[organization]\nname = "N"\nsender = "s@example.org"\ntimezone = "Mars/Base"\n'
    )

    with pytest.raises(
        ConfigError, match=r"\[organization\] timezone: unknown time zone 'Mars/Base'"
    ):
        config.load(path)


def test_a_missing_file_is_one_line_from_the_cli(site):
    result = CliRunner().invoke(cli, ["--config", str(site.root / "nope.toml"), "run"])

    assert result.exit_code == 2
    assert (
        result.output.strip()
        == f"error: {site.root / 'nope.toml'}: no such file (pass --config PATH)"
    )


def test_column_mapping_overlays_the_defaults(tmp_path):
    settings = config.load(
        write(tmp_path, '[workbook.columns.signups]\nevent = "Which conversation?"\n')
    )

    mapping = settings.workbook.column_map("signups")
    assert mapping["event"] == "Which conversation?"
    assert mapping["email"] == "Email Address"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kind = "newsletter"\nevery = "5 minutes"\n', "kind: 'newsletter' is not one of"),
        (
            'kind = "signups"\nevery = "often"\n',
            "every: 'often': expected a duration from 1 second to 1 week",
        ),
        ('kind = "signups"\n', "every: give a schedule"),
        ('kind = "signups"\nevery = "5 minutes"\nat = "09:00"\n', "every and at: give one"),
        ('kind = "digest"\nat = "someday 9"\n', "at: 'someday 9' is not like 'monday 09:00'"),
        ('kind = "signups"\nevery = "5 minutes"\nenabled = "yes"\n', "enabled: expected bool"),
        ('kind = "signups"\nevery = "5 minutes"\ntimezone = "Mars/Base"\n', "timezone: unknown"),
        ('kind = "reminders"\nevery = "5 minutes"\n[options]\ncolour = 1\n', "[options] colour"),
    ],
)
def test_a_wrong_job_file_names_file_and_key(site, text, message):
    path = site.root / "jobs" / "broken.toml"
    path.write_text(text)

    result = site.mailer("jobs")

    assert result.exit_code == 2
    assert f"error: {path}: " in result.output
    assert message in result.output


@pytest.mark.parametrize("limit", ["daily_limit", "per_minute"])
def test_a_negative_sending_limit_is_named(tmp_path, limit):
    with pytest.raises(
        ConfigError,
        match=rf"\[transport\] {limit}: -5: expected a number from 0 to .+, or 0 for no limit",
    ):
        config.load(write(tmp_path, f"[transport]\n{limit} = -5\n"))


def test_sending_limits_are_read_from_the_transport_table(tmp_path):
    settings = config.load(write(tmp_path, "[transport]\ndaily_limit = 450\nper_minute = 20\n"))

    assert (settings.transport.daily_limit, settings.transport.per_minute) == (450, 20)
