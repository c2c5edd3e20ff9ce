"""The PostgreSQL backend: one ledger shared by any number of processes on any number of hosts.

Messages are claimed row by row (`FOR UPDATE SKIP LOCKED`); the run lock is a
session advisory lock on a connection of its own, which the server frees when
its holder dies; migrating holds a transaction-scoped advisory lock, so two
processes starting at once migrate one after the other.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, TextClause, create_engine, inspect, text
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.engine import URL

from mailer.core.errors import LockedError

# Advisory lock keys: any two numbers no other program on the database uses.
MIGRATION_LOCK = 0x6D61696C65720001  # "mailer" + 1
RUN_LOCK = 0x6D61696C65720002


class PostgresBackend:
    shared = True
    lock_rows = " FOR UPDATE SKIP LOCKED"
    # Another process's page query may hold one of this process's rows for an instant
    # (it locked the row, then found it claimed): wait for it rather than skip the row.
    lock_own_rows = " FOR UPDATE"

    def __init__(self, url: URL):
        self.where = url.render_as_string(hide_password=True)
        # synchronous_commit off: a commit survives any client process dying (the
        # server has it); only a crash of the server's machine may lose the last
        # fraction of a second of marks, as with SQLite's synchronous=NORMAL.
        self.engine = create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            pool_size=2,
            connect_args={"options": "-c synchronous_commit=off"},
        )

    def insert(self, table: Table) -> Insert:
        return insert(table)

    def run(
        self, db: Connection, query: str, params: dict[str, object] | list[dict[str, object]]
    ) -> list[Any]:
        result = db.execute(_sql(query), params)
        return list(result) if result.returns_rows else []

    def schema_version(self, db: Connection) -> int:
        # Not to_regclass(): after waiting on an advisory lock its catalog cache may be stale.
        if not inspect(db).has_table("ledger_version"):
            return 0
        query = text("SELECT coalesce(max(version), 0) FROM ledger_version")
        return int(db.execute(query).scalar_one())

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.execute(text("CREATE TABLE IF NOT EXISTS ledger_version (version INTEGER NOT NULL)"))
        db.execute(text("DELETE FROM ledger_version"))
        db.execute(text("INSERT INTO ledger_version VALUES (:v)"), {"v": version})

    def hold_for_migration(self, db: Connection) -> None:
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})

    def counts_changes(self, db: Connection) -> bool:
        """Nothing to make: `state_token` reads PostgreSQL's tables whole."""
        return True

    def count_changes(self, db: Connection) -> None:
        """Nothing to make: `state_token` reads PostgreSQL's tables whole."""

    def stop_counting(self, db: Connection) -> None:
        """Nothing to take out."""

    @contextmanager
    def run_lock(self, timeout: float) -> Iterator[None]:
        """Hold the ledger's run lock for as long as this connection lives."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            deadline = time.monotonic() + timeout
            try_lock = text("SELECT pg_try_advisory_lock(:k)")
            while not db.execute(try_lock, {"k": RUN_LOCK}).scalar_one():
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another mailer run holds the run lock of {self.where}; it is still "
                        f"running after {timeout:g}s (try again later)"
                    )
                time.sleep(0.1)
            try:
                yield
            finally:
                db.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK})

    def zero_deleted(self, db: Connection) -> None:
        """PostgreSQL cannot: a deleted row's bytes stay until its space is reused (`reclaim`)."""

    def reclaim(self, tables: Sequence[str], full: bool) -> None:
        """VACUUM the tables: dead rows are removed and their space made free for reuse.

        Not VACUUM FULL, which would shut every other process out of the tables
        while it rewrites them. What PostgreSQL keeps beyond this (free space
        not yet reused, its write-ahead log, backups) is the operator's to manage.
        """
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text(f"VACUUM {', '.join(tables)}"))

    def close(self) -> None:
        self.engine.dispose()


@functools.lru_cache(maxsize=64)
def _sql(query: str) -> TextClause:
    """A statement run again and again (per message, per batch), parsed once."""
    return text(query)
