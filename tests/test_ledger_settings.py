"""`[ledger] url`: SQLite beside the site by default, PostgreSQL by URL, MAILER_LEDGER_URL first."""

from __future__ import annotations

import pytest

from mailer.core.errors import ConfigError
from mailer.ledger import ledger_password


def with_ledger(site, lines: str) -> None:
    text = site.config.read_text()
    site.config.write_text(text.replace('[ledger]\npath = "state/mailer.db"', f"[ledger]\n{lines}"))


def test_the_default_ledger_is_a_sqlite_file_in_the_site_s_state_folder(site):
    settings = site.settings()

    assert settings.ledger.url == f"sqlite:///{site.root.resolve()}/state/mailer.db"
    assert (
        settings.ledger.on_sqlite and settings.ledger.state_folder == site.root.resolve() / "state"
    )


def test_a_relative_sqlite_url_is_the_site_s_and_its_folder_keeps_the_state(site):
    with_ledger(site, 'url = "sqlite:///data/memory.db"')

    ledger = site.settings().ledger

    assert ledger.path == site.root.resolve() / "data" / "memory.db"
    assert ledger.state_folder == site.root.resolve() / "data"


def test_mailer_ledger_url_wins_over_the_setting_and_state_stays_beside_the_site(site, monkeypatch):
    with_ledger(site, 'url = "sqlite:///data/memory.db"')
    monkeypatch.setenv("MAILER_LEDGER_URL", "postgresql://mailer@db.example.org/mailer")

    ledger = site.settings().ledger

    assert ledger.url == "postgresql://mailer@db.example.org/mailer" and not ledger.on_sqlite
    assert ledger.state_folder == site.root.resolve() / "state"


def test_a_url_that_is_no_ledger_is_named_with_what_is_accepted(site, monkeypatch):
    monkeypatch.setenv("MAILER_LEDGER_URL", "mysql://mailer@db/mailer")

    with pytest.raises(ConfigError, match="MAILER_LEDGER_URL: expected sqlite:///"):
        site.settings()


def test_the_password_comes_from_the_environment_or_a_mounted_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MAILER_LEDGER_PASSWORD", raising=False)
    secret = tmp_path / "db_password"
    secret.write_text("s3cret-db-password\n")
    monkeypatch.setenv("MAILER_LEDGER_PASSWORD_FILE", str(secret))

    assert ledger_password() == "s3cret-db-password"
