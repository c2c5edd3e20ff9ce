"""The ledger: mailer's memory of what it decided and sent, between runs.

`open_ledger(settings)` is the one way in: it reads `[ledger] url`, picks the
backend (`sqlite`, the embedded default, or `postgresql`), migrates the schema
(`tables`, `migrations`) and returns a `Ledger` (`protocols`); every write
lives in `store`, and those of retention and forgetting in `privacy`, as
plain SQL on the backend's `Connection` (`connection`). SQLite's goes
through the stdlib sqlite3, and its reads (`sqlite_ledger`) do without even
the store until a call writes: a SQLite site never imports SQLAlchemy, which
PostgreSQL's backend runs on. A new backend is one module with a `Backend`
and a line in `open_ledger`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.durations import seconds
from mailer.core.env_secrets import LEDGER_PASSWORD, read_secret
from mailer.core.errors import ConfigError
from mailer.ledger.protocols import Ledger, Reads
from mailer.ledger.records import DEFAULT_LEASE
from mailer.settings.site_file import POSTGRES_URLS, SQLITE_URL, Settings

if TYPE_CHECKING:
    from mailer.ledger.connection import Backend


def open_ledger(where: Settings | str | Path, lease: float | None = None) -> Ledger:
    """The site's ledger (its settings), or the one at a URL or SQLite file; migrated, open."""
    if isinstance(where, Settings):
        url = where.ledger.url
        lease = seconds(where.ledger.lease) if lease is None else lease
    else:
        url = where if isinstance(where, str) else SQLITE_URL + str(where)
    lease = DEFAULT_LEASE if lease is None else lease
    if url.startswith(SQLITE_URL):
        from mailer.ledger.sqlite_ledger import SqliteLedger

        return SqliteLedger(Path(url.removeprefix(SQLITE_URL)), lease)
    backend = backend_for(url)
    from mailer.ledger.store import SqlLedger

    return SqlLedger(backend, lease)


def backend_for(url: str) -> Backend:
    """The backend of a ledger URL other than SQLite's (whose ledger is SqliteLedger)."""
    if url.startswith(POSTGRES_URLS):
        from sqlalchemy.engine import make_url

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


__all__ = ["Ledger", "Reads", "ledger_password", "open_ledger"]
