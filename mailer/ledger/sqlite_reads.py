"""The reads `mailer status` and an unchanged run make, on a SQLite ledger, with stdlib sqlite3.

`mailer.ledger.store` answers the same calls through SQLAlchemy, which takes
longer to import than either of those commands takes to run. Each query here
is the store's, and gives the same values (tests/test_sqlite_reads.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from mailer.ledger.records import (
    BOUNCE,
    FAILED,
    PENDING,
    RETRY,
    SENDING,
    SENT,
    UNKNOWN,
    BounceRow,
    MessageRow,
    SeatRow,
    stored_event,
)
from mailer.ledger.state_token import STATE_QUERIES, state_digest
from mailer.model import StoredEvent

if TYPE_CHECKING:
    from mailer.rules.schedules import LastRun

CHUNK = 500  # values per IN (...), as the store sends them


class SqliteReads:
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
        """The rows of a read-only query written for every backend, its parameters `:named`."""
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
            token = state_digest([db.execute(query).fetchall() for query in STATE_QUERIES])
            self._token = (written, token)
        return token

    def fingerprint(self, job: str) -> tuple[str, str] | None:
        rows = self._rows("SELECT digest, report FROM fingerprints WHERE job = ?", (job,))
        return None if not rows else (rows[0][0], rows[0][1])

    def stored_events(self) -> dict[str, StoredEvent]:
        rows = self._rows(
            "SELECT id, title, label, starts_at, ends_at, timezone, capacity, join_url,"
            " signup_url, status, sequence, missing, titles FROM events ORDER BY starts_at, id"
        )
        return dict(stored_event(row) for row in rows)

    def seats(self) -> list[SeatRow]:
        rows = self._rows(
            "SELECT event_id, email, status, position, row, address, name, written, language"
            " FROM seats ORDER BY event_id, place"
        )
        return [SeatRow(*r) for r in rows]

    def messages(
        self, states: Sequence[str] = (SENT, PENDING, RETRY, FAILED, UNKNOWN)
    ) -> list[MessageRow]:
        rows = self._rows(
            "SELECT key, kind, event_id, email, state, reason, attempts, created_at, sent_at,"
            f" provider_id FROM messages WHERE state IN ({_marks(states)})"
            " ORDER BY created_at, key",
            tuple(states),
        )
        return [MessageRow(*r) for r in rows]

    def count_due(self) -> int:
        query = "SELECT count(*) FROM messages WHERE state IN (?, ?)"
        return int(self._rows(query, (PENDING, RETRY))[0][0])

    def waiting(self) -> list[tuple[int, int]]:
        rows = self._rows(
            "SELECT priority, count(*) FROM messages WHERE state IN (?, ?)"
            " GROUP BY priority ORDER BY priority",
            (PENDING, RETRY),
        )
        return [(int(p), int(n)) for p, n in rows]

    def counted_since(self, since: datetime) -> tuple[int, str | None]:
        count, first = self._rows(
            "SELECT count(*), MIN(COALESCE(sent_at, tried_at)) FROM messages"
            " WHERE state IN (?, ?, ?) AND COALESCE(sent_at, tried_at) > ?",
            (SENT, UNKNOWN, SENDING, since.astimezone(UTC).isoformat()),
        )[0]
        return int(count), first

    def sent_at(self, kinds: Sequence[str]) -> dict[tuple[str, str, str], str]:
        rows = self._rows(
            "SELECT kind, event_id, email, MAX(created_at) FROM messages"
            f" WHERE kind IN ({_marks(kinds)}) GROUP BY kind, event_id, email",
            tuple(kinds),
        )
        return {(kind, event_id, email): at for kind, event_id, email, at in rows}

    def paused(self, transport: str) -> tuple[datetime, str] | None:
        rows = self._rows("SELECT until, reason FROM pauses WHERE transport = ?", (transport,))
        return (datetime.fromisoformat(rows[0][0]), rows[0][1]) if rows else None

    def suppressions_among(self, emails: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = iter(sorted({e.casefold() for e in emails}))
        with self._snapshot() as db:
            while chunk := list(islice(wanted, CHUNK)):
                query = (
                    f"SELECT email, reason FROM suppressions WHERE email IN ({_marks(chunk)})"
                    " ORDER BY CASE WHEN reason = ? THEN 1 ELSE 0 END, reason"
                )
                found.update(dict(db.execute(query, (*chunk, BOUNCE)).fetchall()))
        return found

    def bounces(self) -> list[BounceRow]:
        rows = self._rows(
            "SELECT email, kind, status, diagnostic, message_key, at FROM bounces"
            " ORDER BY at DESC, email"
        )
        return [BounceRow(*row) for row in rows]

    def job_runs(self) -> dict[str, LastRun]:
        from mailer.rules.schedules import LastRun

        rows = self._rows("SELECT job, started, ok, summary FROM job_runs")
        return {
            job: LastRun(datetime.fromisoformat(started), bool(ok), summary)
            for job, started, ok, summary in rows
        }


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
