"""The ledger: mailer's memory of what it decided and sent, between runs.

`open_ledger(settings)` is the one way in: it reads `[ledger] url`, picks the
backend (`sqlite`, the embedded default, or `postgresql`), migrates the schema
(`schema`) and returns a `Ledger` (`protocols`); every query lives in `store`,
and those of retention and forgetting in `privacy`. A new backend is one module
with a `Backend` and a line in `open_ledger`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from mailer.core.durations import seconds
from mailer.core.env_secrets import LEDGER_PASSWORD, read_secret
from mailer.core.errors import ConfigError
from mailer.ledger.protocols import Ledger
from mailer.ledger.store import DEFAULT_LEASE, Backend, SqlLedger
from mailer.settings.config import POSTGRES_URLS, SQLITE_URL, Settings


def open_ledger(where: Settings | str | Path, lease: float | None = None) -> Ledger:
    """The site's ledger (its settings), or the one at a URL or SQLite file; migrated, open."""
    if isinstance(where, Settings):
        url = where.ledger.url
        lease = seconds(where.ledger.lease) if lease is None else lease
    else:
        url = where if isinstance(where, str) else SQLITE_URL + str(where)
    return SqlLedger(backend_for(url), DEFAULT_LEASE if lease is None else lease)


def backend_for(url: str) -> Backend:
    if url.startswith(SQLITE_URL):
        from mailer.ledger.sqlite import SqliteBackend

        return SqliteBackend(Path(url.removeprefix(SQLITE_URL)))
    if url.startswith(POSTGRES_URLS):
        from mailer.ledger.postgresql import PostgresBackend

        parsed = make_url(url)
        password = ledger_password()
        if password and not parsed.password:
            parsed = parsed.set(password=password)
        return PostgresBackend(parsed)
    raise ConfigError(f"{url.split(':', 1)[0]}: not a ledger URL (sqlite:/// or postgresql://)")


def ledger_password() -> str:
    """MAILER_LEDGER_PASSWORD, or the file MAILER_LEDGER_PASSWORD_FILE names (a mounted secret)."""
    return read_secret(LEDGER_PASSWORD)


__all__ = ["Ledger", "ledger_password", "open_ledger"]
