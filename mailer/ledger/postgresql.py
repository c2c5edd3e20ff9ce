"""The PostgreSQL backend: one ledger shared by any number of processes on any number of hosts.

The store's plain SQL runs through SQLAlchemy Core (each text parsed once) on
psycopg 3, from SQLAlchemy's pool. Messages are claimed row by row
(`FOR UPDATE SKIP LOCKED`); the run lock is a session advisory lock on a
connection of its own, which the server frees when its holder dies;
migrating holds a transaction-scoped advisory lock, so two processes
starting at once migrate one after the other.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection as AlchemyConnection
from sqlalchemy import TextClause, create_engine, inspect, text
from sqlalchemy.engine import URL

from mailer.core.errors import LockedError
from mailer.ledger.connection import Connection, Named, Params
from mailer.ledger.state_token import STATE_QUERIES, state_digest

# Advisory lock keys: any two numbers no other program on the database uses.
MIGRATION_LOCK = 0x6D61696C65720001  # "mailer" + 1
RUN_LOCK = 0x6D61696C65720002


class PostgresConnection:
    """A SQLAlchemy connection from the engine's pool, taking the store's plain SQL."""

    mark = "%s"
    insert_verb = "INSERT"

    def __init__(self, db: AlchemyConnection):
        self.db = db

    def rows(self, sql: str, params: Named | None = None) -> list[Any]:
        result = self.db.execute(_sql(sql), params)
        return list(result) if result.returns_rows else []

    def chunks(self, sql: str, size: int, params: Named | None = None) -> Iterator[list[Any]]:
        """On a server-side cursor (yield_per)."""
        result = self.db.execute(_sql(sql), params, execution_options={"yield_per": size})
        for chunk in result.partitions(size):
            yield list(chunk)

    def run(self, sql: str, params: Params | None = None) -> int:
        return self.db.execute(_sql(sql), params).rowcount

    def run_marked(self, sql: str, values: Sequence[Any], many: bool = False) -> int:
        return self.db.exec_driver_sql(sql, list(values) if many else tuple(values)).rowcount

    def begin(self, write: bool) -> None:
        self.db.begin()

    def commit(self) -> None:
        self.db.commit()

    def rollback(self) -> None:
        self.db.rollback()

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction()

    def close(self) -> None:
        self.db.close()


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

    def connect(self) -> PostgresConnection:
        return PostgresConnection(self.engine.connect())

    def creation(self) -> Sequence[str]:
        """The ledger's tables (mailer.ledger.schema) as SQLAlchemy compiles them for PostgreSQL.

        Compiled as plain SQL, the text `Connection.run` takes: with the
        driver's own parameter style a `%` in an index's WHERE (LIKE 'h:%')
        would be written `%%`, and `run` would escape it again.
        """
        if not _CREATION:
            from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
            from sqlalchemy.engine.default import DefaultDialect
            from sqlalchemy.schema import CreateIndex, CreateTable

            import mailer.ledger.schema as schema

            psycopg: type[DefaultDialect] = PGDialect_psycopg  # typed as its base is
            dialect = psycopg(paramstyle="named")
            for table in schema.METADATA.sorted_tables:
                _CREATION.append(
                    str(CreateTable(table, if_not_exists=True).compile(dialect=dialect))
                )
                _CREATION.extend(
                    str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
                    for index in sorted(table.indexes, key=lambda index: str(index.name))
                )
        return _CREATION

    def has_table(self, db: Connection, name: str) -> bool:
        # Not to_regclass(): after waiting on an advisory lock its catalog cache may be stale.
        assert isinstance(db, PostgresConnection)
        return inspect(db.db).has_table(name)

    def schema_version(self, db: Connection) -> int:
        if not self.has_table(db, "ledger_version"):
            return 0
        return int(db.rows("SELECT coalesce(max(version), 0) FROM ledger_version")[0][0])

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.run("CREATE TABLE IF NOT EXISTS ledger_version (version INTEGER NOT NULL)")
        db.run("DELETE FROM ledger_version")
        db.run("INSERT INTO ledger_version VALUES (:v)", {"v": version})

    def hold_for_migration(self, db: Connection) -> None:
        db.rows("SELECT pg_advisory_xact_lock(:k)", {"k": MIGRATION_LOCK})

    def state_token(self, db: Connection) -> str:
        """Every table `state_token` reads, read whole."""
        return state_digest(db.rows(query) for query in STATE_QUERIES)

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


_CREATION: list[str] = []  # compiled once a process
