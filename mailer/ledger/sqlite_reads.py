"""The reads `mailer status` and an unchanged run make, on a SQLite ledger, with stdlib sqlite3.

`mailer.ledger.store` answers the same calls, and writes, which a ledger
opens only when a call needs it (its migration check, its triggers, its
thousand lines cost more than those commands take to run). The plain reads
are the very queries the store runs (mailer.ledger.reads); the few here that
need one read transaction give the same values (tests/test_sqlite_reads.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mailer.core.batches import batches
from mailer.ledger.reads import PlainReads
from mailer.ledger.records import BOUNCE
from mailer.ledger.state_token import sqlite_state_token

CHUNK = 500  # values per IN (...), as the store sends them


class SqliteReads(PlainReads):
    """Read-only questions to a SQLite ledger at the current schema, on a connection of their own.

    One question at a time: `mailer serve` asks from several threads.
    """

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.lock = threading.RLock()
        self._token: tuple[tuple[int, int], str] | None = None  # (as of what, the token)

    def _rows(self, query: str, params: Sequence[object] = ()) -> list[Any]:
        with self.lock:
            return self.db.execute(query, params).fetchall()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several queries that see one state of the file (a read transaction)."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.db.execute("COMMIT")

    def select(self, query: str, **params: object) -> list[Any]:
        with self.lock:
            return self.db.execute(query, params).fetchall()

    def schema_version(self) -> int:
        return int(self._rows("PRAGMA user_version")[0][0])

    def has_tables(self) -> bool:
        """The ledger's tables are there (a new file has none yet)."""
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
        return bool(self._rows(query))

    def count_in(self, states: Sequence[str]) -> int:
        """How many messages are in one of these states."""
        query = f"SELECT count(*) FROM messages WHERE state IN ({_marks(states)})"
        return int(self._rows(query, tuple(states))[0][0])

    def state_token(self) -> str:
        """The store's token; read again only when something may have been written since.

        SQLite counts the commits of other connections (data_version) and the
        rows this one changed (total_changes): both the same, nothing changed.
        Inside the read transaction, the token read is of the state counted.
        """
        with self._snapshot() as db:
            written = (int(db.execute("PRAGMA data_version").fetchone()[0]), db.total_changes)
            if self._token is not None and self._token[0] == written:
                return self._token[1]
            token = sqlite_state_token(lambda query: db.execute(query).fetchall())
            self._token = (written, token)
        return token

    def suppressions_among(self, emails: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = sorted({e.casefold() for e in emails})
        with self._snapshot() as db:
            for chunk in batches(wanted, CHUNK):
                query = (
                    f"SELECT email, reason FROM suppressions WHERE email IN ({_marks(chunk)})"
                    " ORDER BY CASE WHEN reason = ? THEN 1 ELSE 0 END, reason"
                )
                found.update(dict(db.execute(query, (*chunk, BOUNCE)).fetchall()))
        return found


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
