"""The SQLite backend: a file beside the site (the embedded default), one writer at a time.

The store's statements go straight to the stdlib sqlite3, which takes the
same `:named` parameters and keeps each statement parsed; no SQLAlchemy is
imported. Connections are kept for reuse, each in WAL mode with
synchronous=NORMAL. Its run lock is an fcntl lock on a file beside the
ledger: the kernel frees it when the process that held it dies. Write
transactions start with BEGIN IMMEDIATE, so a writer waits for another
instead of failing half-way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mailer.ledger.connection import Connection, Named, Params
from mailer.ledger.sqlite_file import SqliteFile, use_wal
from mailer.ledger.state_token import (
    CHANGES,
    COUNTED,
    FIND_TRIGGERS,
    counting_statements,
    sqlite_state_token,
)
from mailer.ledger.tables import BY_NAME, sqlite_creation

KEPT = 5  # idle connections kept for reuse, as SQLAlchemy's pool kept them


class SqliteConnection:
    """One sqlite3 connection; the store says BEGIN and COMMIT (the driver's own is off)."""

    mark = "?"
    # INSERT OR FAIL keeps no statement journal for a batch. A statement that may stop
    # half-way (a NOT NULL refused) has SQLite copy every page it touches that an earlier
    # statement of the transaction wrote to a temporary file first, to undo the statement
    # alone: 110 MB of writes for a 100,000-reader digest, in batches of 1,000. OR FAIL
    # keeps the rows before the one refused instead, and the error rolls back the whole
    # transaction (nothing in the ledger goes on after a failed statement), so what is
    # kept is the same: nothing. ON CONFLICT still passes over a known key.
    insert_verb = "INSERT OR FAIL"

    def __init__(self, raw: sqlite3.Connection, backend: SqliteBackend):
        self.raw = raw
        self.backend = backend

    def rows(self, sql: str, params: Named | None = None) -> list[Any]:
        return self.raw.execute(sql, params or {}).fetchall()

    def chunks(self, sql: str, size: int, params: Named | None = None) -> Iterator[list[Any]]:
        cursor = self.raw.execute(sql, params or {})
        while chunk := cursor.fetchmany(size):
            yield chunk

    def run(self, sql: str, params: Params | None = None) -> int:
        if isinstance(params, Sequence):
            return self.raw.executemany(sql, params).rowcount
        return self.raw.execute(sql, params or {}).rowcount

    def run_marked(self, sql: str, values: Sequence[Any], many: bool = False) -> int:
        if many:
            return self.raw.executemany(sql, values).rowcount
        return self.raw.execute(sql, values).rowcount

    def begin(self, write: bool) -> None:
        self.raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def close(self) -> None:
        self.backend.give_back(self)


class SqliteBackend:
    shared = False  # one process sends at a time, under the run lock
    lock_rows = ""  # BEGIN IMMEDIATE already keeps every other writer out
    lock_own_rows = ""

    def __init__(self, file: SqliteFile | Path):
        self.file = file if isinstance(file, SqliteFile) else SqliteFile(file)
        self.path = self.file.path
        self.where = str(self.path)
        self._idle: list[SqliteConnection] = []
        self._lock = threading.Lock()
        self._trace: Callable[[str], None] | None = None

    def connect(self) -> SqliteConnection:
        """A kept connection, or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        raw = self.file.connect()
        use_wal(raw)
        # In WAL mode NORMAL keeps every commit across a killed process; only a power
        # cut may lose the last few marks, which then resend (at least once).
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.set_trace_callback(self._trace)
        return SqliteConnection(raw, self)

    def give_back(self, db: SqliteConnection) -> None:
        """Keep a connection for the next `connect` (a transaction left open is undone first)."""
        db.rollback()
        with self._lock:
            if len(self._idle) < KEPT:
                self._idle.append(db)
                return
        db.raw.close()

    def trace(self, seen: Callable[[str], None] | None) -> None:
        """Have every statement this backend's connections run from now on passed to `seen`.

        With its parameters filled in (sqlite3's trace callback); None stops it.
        """
        self._trace = seen
        with self._lock:
            for db in self._idle:
                db.raw.set_trace_callback(seen)

    def creation(self) -> Sequence[str]:
        return sqlite_creation()

    def has_table(self, db: Connection, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"
        return bool(db.rows(query, {"n": name}))

    def schema_version(self, db: Connection) -> int:
        return int(db.rows("PRAGMA user_version")[0][0])

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.run(f"PRAGMA user_version = {int(version)}")

    def hold_for_migration(self, db: Connection) -> None:
        """BEGIN IMMEDIATE has already shut other writers out."""

    def state_token(self, db: Connection) -> str:
        """Counted, read as mailer.ledger.sqlite_reads reads it."""
        return sqlite_state_token(db.rows)

    def counts_changes(self, db: Connection) -> bool:
        """The triggers that count changes for `state_token` are there, as this version has them."""
        return _triggers(db) == _counting()

    def count_changes(self, db: Connection) -> None:
        """Make (or remake) the triggers that count changes; the count moves on as they change."""
        db.run(f"CREATE TABLE IF NOT EXISTS {CHANGES} (n INTEGER NOT NULL)")
        db.run(f"INSERT INTO {CHANGES} (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {CHANGES})")
        found, wanted = _triggers(db), _counting()
        if found == wanted:
            return
        self.stop_counting(db)
        for statement in wanted.values():
            db.run(statement)
        # Counting anew: from a number no token read before the triggers were made can hold.
        db.run(f"UPDATE {CHANGES} SET n = abs(random() % 1000000000000)")

    def stop_counting(self, db: Connection) -> None:
        """Drop the counting triggers: a step dropping or renaming a column they name would fail."""
        for name in _triggers(db):
            db.run(f"DROP TRIGGER {name}")

    def run_lock(self, timeout: float) -> AbstractContextManager[None]:
        """Hold the lock file beside the ledger (SqliteFile.run_lock)."""
        return self.file.run_lock(timeout)

    def zero_deleted(self, db: Connection) -> None:
        """Deleted content is overwritten with zeros on this connection from now on."""
        db.run("PRAGMA secure_delete = ON")

    def reclaim(self, tables: Sequence[str], full: bool) -> None:
        """Empty the write-ahead log, and with `full` rewrite the file without free pages.

        The whole file, whichever `tables` changed: VACUUM rewrites it at once.
        """
        db = self.connect()  # outside any transaction: VACUUM cannot run inside BEGIN
        try:
            db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
            if full:
                db.run("VACUUM")
                db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.raw.close()


def _triggers(db: Connection) -> dict[str, str]:
    return {str(name): str(sql) for name, sql in db.rows(FIND_TRIGGERS)}


def _counting() -> dict[str, str]:
    """The triggers this version counts changes with (they name every column of each table)."""
    if not _COUNTING:
        _COUNTING.update(counting_statements({t: BY_NAME[t].names for t in COUNTED}))
    return _COUNTING


_COUNTING: dict[str, str] = {}
