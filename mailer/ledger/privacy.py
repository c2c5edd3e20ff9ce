"""What the ledger forgets, and the keyed hashes it keeps in place of addresses.

Retention (`[privacy]`): a sent message's stored body and envelope go after
`keep_bodies`; a session that ended more than `keep_sessions` ago is
retired: its seats, seat links and requests are deleted, its messages keep
only kind, session, state and dates under a keyed hash of their idempotency
key and address, and its bindings (which form answer belongs to it) are
kept as keyed hashes, so the answers still on the sheet stay bound to a
session mailer no longer touches. A person who asks to be forgotten
(`mailer forget`) leaves only a keyed hash of their address and the moment
they asked: their older answers are ignored, a newer one is a new signup.

These tables sit beside the ledger's own and are made when first needed.
Deleted pages are overwritten (secure_delete) and the file is vacuumed and
its write-ahead log truncated, so no address survives in free pages.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailer.core.errors import ConfigError, LedgerError
from mailer.core.keyed import MARK, keyed
from mailer.ledger import Ledger
from mailer.ledger.records import PENDING, SENDING, SKIPPED
from mailer.ledger.sqlite import SqliteBackend
from mailer.mail.message import RETRY, SENT, UNKNOWN
from mailer.rules.binding import Memory

SCHEMA = """
CREATE TABLE IF NOT EXISTS retired_sessions (
    event_id TEXT PRIMARY KEY,
    retired_at TEXT NOT NULL,
    seats TEXT NOT NULL,
    messages INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kept_bindings (
    hash TEXT PRIMARY KEY,
    event_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS forgotten (
    hash TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS forget_requests (
    token TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"""
NOT_HASHED = f"NOT LIKE '{MARK}%'"
OPEN_STATES = (PENDING, RETRY, SENDING, UNKNOWN)
# A message's own fields once it is kept only as a count: who and what are gone.
AS_COUNT = (
    "key = keyed('message', key), email = keyed('email', email), body_id = '',"
    " envelope = '{}', reason = '', provider_id = '',"
    f" state = CASE WHEN state IN ({','.join('?' * len(OPEN_STATES))}) THEN ? ELSE state END"
)


@dataclass
class Removed:
    """What one retention pass or one forget removed from the ledger (or, dry, would)."""

    sessions: list[str] = field(default_factory=list)  # ids of sessions retired
    seats: int = 0
    messages: int = 0  # messages now kept as keyed hashes only, or deleted
    bodies: int = 0  # messages whose stored body and envelope were removed
    other: int = 0  # bindings, seat links, requests, tokens, suppressions

    def __bool__(self) -> bool:
        return bool(self.sessions or self.seats or self.messages or self.bodies or self.other)


class HashedBindings(Mapping[tuple[str, str], str]):
    """The ledger's bindings, and those of retired sessions, found by keyed hash."""

    def __init__(self, clear: Mapping[tuple[str, str], str], privacy: Privacy):
        self.clear = clear
        self.privacy = privacy

    def __getitem__(self, identity: tuple[str, str]) -> str:
        if identity in self.clear:
            return self.clear[identity]
        found = self.privacy.retired_binding(identity)
        if found is None:
            raise KeyError(identity)
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.clear)

    def __len__(self) -> int:
        return len(self.clear)


class Privacy:
    """Retention and forgetting on one ledger; `secret` is asked for only when a hash is needed."""

    def __init__(self, ledger: Ledger, secret: Callable[[], str]):
        self.ledger = ledger
        self.db = sqlite_connection(ledger)
        self._secret = secret
        self.db.executescript(SCHEMA)
        self._hashing = False

    @functools.cached_property
    def secret(self) -> str:
        return self._secret()

    def hash(self, purpose: str, text: str) -> str:
        return keyed(self.secret, purpose, text)

    def _with_hashes(self) -> None:
        if not self._hashing:
            self.db.create_function("keyed", 2, self.hash, deterministic=True)
            self._hashing = True

    # What jobs ask

    def retired_sessions(self) -> set[str]:
        return {i for (i,) in self.db.execute("SELECT event_id FROM retired_sessions")}

    def retired_binding(self, identity: tuple[str, str]) -> str | None:
        if not self._has("kept_bindings"):
            return None
        row = self.db.execute(
            "SELECT event_id FROM kept_bindings WHERE hash = ?",
            (self.hash("binding", "\0".join(identity)),),
        ).fetchone()
        return row[0] if row else None

    def remembering(self, memory: Memory) -> Memory:
        """The memory with the bindings of retired sessions found too."""
        if not self._has("kept_bindings"):
            return memory
        return Memory(
            HashedBindings(memory.bindings, self), memory.names, memory.aliases, memory.known
        )

    def forgotten_at(self, email: str) -> datetime | None:
        """When this (normalized) address asked to be forgotten, if it did."""
        if not self._has("forgotten"):
            return None
        row = self.db.execute(
            "SELECT at FROM forgotten WHERE hash = ?", (self.hash("email", email),)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def anyone_forgotten(self) -> bool:
        """Whether anyone asked to be forgotten (most ledgers: nobody; then no address is)."""
        return self._has("forgotten")

    def _has(self, table: str) -> bool:
        return self.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None

    # Retention

    def strip_bodies(self, before: datetime, dry_run: bool = False) -> int:
        """Remove the stored body and envelope of messages sent (or skipped) before `before`."""
        where = (
            "state IN (?, ?) AND COALESCE(sent_at, created_at) < ?"
            " AND (body_id != '' OR envelope != '{}')"
        )
        args = (SENT, SKIPPED, before.astimezone(UTC).isoformat())
        if dry_run:
            return int(
                self.db.execute(f"SELECT count(*) FROM messages WHERE {where}", args).fetchone()[0]
            )
        with _transaction(self.db) as db:
            count = db.execute(
                f"UPDATE messages SET body_id = '', envelope = '{{}}' WHERE {where}", args
            ).rowcount
            db.execute("DELETE FROM bodies WHERE id NOT IN (SELECT body_id FROM messages)")
        return count

    def retire(
        self, sessions: list[str], digests_before: datetime, now: datetime, dry_run: bool = False
    ) -> Removed:
        """Retire these sessions and keep digest messages decided before a moment as counts."""
        removed = Removed(sessions=list(sessions))
        removed.seats = self._count("seats", sessions)
        removed.messages = self._count("messages", sessions, f" AND key {NOT_HASHED}")
        cutoff = digests_before.astimezone(UTC).isoformat()
        digests = f"kind = 'digest' AND created_at < ? AND key {NOT_HASHED}"
        removed.messages += self.db.execute(
            f"SELECT count(*) FROM messages WHERE {digests}", (cutoff,)
        ).fetchone()[0]
        if dry_run or not removed:
            return removed
        self._with_hashes()
        states = (*OPEN_STATES, SKIPPED)
        with _transaction(self.db) as db:
            for event_id in sessions:
                self._retire_one(db, event_id, now, states)
            db.execute(
                "DELETE FROM bounces WHERE message_key IN"
                f" (SELECT key FROM messages WHERE {digests})",
                (cutoff,),
            )
            db.execute(f"UPDATE messages SET {AS_COUNT} WHERE {digests}", (*states, cutoff))
            removed.other = self._orphan_tokens(db)
            db.execute("DELETE FROM bodies WHERE id NOT IN (SELECT body_id FROM messages)")
        return removed

    def _retire_one(
        self, db: sqlite3.Connection, event_id: str, now: datetime, states: tuple[str, ...]
    ) -> None:
        seats = dict(
            db.execute(
                "SELECT status, count(*) FROM seats WHERE event_id = ? GROUP BY status",
                (event_id,),
            ).fetchall()
        )
        db.execute(
            "INSERT OR IGNORE INTO kept_bindings SELECT keyed('binding', stamp || char(0) ||"
            " email), event_id FROM bindings WHERE event_id = ?",
            (event_id,),
        )
        (messages,) = db.execute(
            "SELECT count(*) FROM messages WHERE event_id = ?", (event_id,)
        ).fetchone()
        db.execute(  # a bounce names the message and the address: it goes with them
            "DELETE FROM bounces WHERE message_key IN"
            " (SELECT key FROM messages WHERE event_id = ?)",
            (event_id,),
        )
        db.execute(
            f"UPDATE messages SET {AS_COUNT} WHERE event_id = ? AND key {NOT_HASHED}",
            (*states, event_id),
        )
        for table in ("bindings", "seats", "seat_tokens", "requests"):
            db.execute(f"DELETE FROM {table} WHERE event_id = ?", (event_id,))
        db.execute(
            "INSERT OR REPLACE INTO retired_sessions VALUES (?, ?, ?, ?)",
            (
                event_id,
                now.astimezone(UTC).isoformat(),
                json.dumps(seats, sort_keys=True),
                messages,
            ),
        )

    @staticmethod
    def _orphan_tokens(db: sqlite3.Connection) -> int:
        """Older unsubscribe links' (token, address) pairs of addresses mailer no longer holds."""
        return db.execute(
            "DELETE FROM unsubscribe_tokens WHERE email NOT IN (SELECT email FROM seats)"
            " AND email NOT IN (SELECT email FROM messages)"
            " AND email NOT IN (SELECT email FROM suppressions)"
        ).rowcount

    def _count(self, table: str, sessions: list[str], extra: str = "") -> int:
        total = 0
        for event_id in sessions:
            (n,) = self.db.execute(
                f"SELECT count(*) FROM {table} WHERE event_id = ?{extra}", (event_id,)
            ).fetchone()
            total += n
        return total

    def vacuum(self, full: bool = True) -> None:
        """Empty the write-ahead log, and with `full` rewrite the file without free pages.

        Deleted content is zeroed already (secure_delete); the full rewrite is
        for the rarer, larger removals (a session retired, a person forgotten).
        """
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if full:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # One person

    def holds(self, email: str) -> dict[str, list[dict[str, Any]]]:
        """Everything the ledger holds about one (normalized) address, for `mailer export`."""
        db = self.db
        seats = [
            {"session": e, "status": s, "position": p, "row": r, "name": n}
            for e, s, p, r, n in db.execute(
                "SELECT event_id, status, position, row, name FROM seats WHERE email = ?"
                " ORDER BY event_id",
                (email,),
            )
        ]
        messages = []
        for key, kind, event_id, state, created, sent, body_id, reason in db.execute(
            "SELECT key, kind, event_id, state, created_at, sent_at, body_id, reason"
            " FROM messages WHERE email = ? ORDER BY created_at, key",
            (email,),
        ):
            row = db.execute("SELECT body FROM bodies WHERE id = ?", (body_id,)).fetchone()
            subject = json.loads(row[0]).get("subject", "") if row else ""
            messages.append(
                {
                    "key": key,
                    "kind": kind,
                    "session": event_id,
                    "state": state,
                    "subject": subject,
                    "decided_at": created,
                    "sent_at": sent,
                    **({"reason": reason} if reason else {}),
                }
            )
        suppressions = [
            {"reason": r, "since": at}
            for r, at in db.execute(
                "SELECT reason, created_at FROM suppressions WHERE email = ? ORDER BY created_at",
                (email,),
            )
        ]
        requests = [
            {"session": e, "kind": k, "at": at, "source": s, "acted_on": a}
            for e, k, at, s, a in db.execute(
                "SELECT event_id, kind, at, source, applied_at FROM requests WHERE email = ?"
                " ORDER BY at",
                (email,),
            )
        ]
        answers = [
            {"answered_at": stamp, "session": e}
            for stamp, e in db.execute(
                "SELECT stamp, event_id FROM bindings WHERE email = ? ORDER BY stamp", (email,)
            )
        ]
        bounces = [
            {"message": k, "kind": kind, "status": st, "diagnostic": d, "at": at}
            for k, kind, st, d, at in db.execute(
                "SELECT message_key, kind, status, diagnostic, at FROM bounces WHERE email = ?"
                " ORDER BY at",
                (email,),
            )
        ]
        return {
            "seats": seats,
            "messages": messages,
            "digests": [m for m in messages if m["kind"] == "digest"],
            "bounces": bounces,
            "failed_messages": [m for m in messages if m["state"] == "failed"],
            "suppressions": suppressions,
            "requests": requests,
            "answers": answers,
        }

    def forget(self, email: str, now: datetime) -> Removed:
        """Delete every row about one address; keep its keyed hash and when it asked."""
        self._with_hashes()
        removed = Removed()
        with _transaction(self.db) as db:
            removed.seats = db.execute("DELETE FROM seats WHERE email = ?", (email,)).rowcount
            removed.messages = db.execute("DELETE FROM messages WHERE email = ?", (email,)).rowcount
            for table in (
                "bindings",
                "seat_tokens",
                "requests",
                "unsubscribe_tokens",
                "suppressions",
                "bounces",
            ):
                removed.other += db.execute(
                    f"DELETE FROM {table} WHERE email = ?", (email,)
                ).rowcount
            db.execute("DELETE FROM bodies WHERE id NOT IN (SELECT body_id FROM messages)")
            db.execute(
                "INSERT OR REPLACE INTO forgotten VALUES (?, ?)",
                (self.hash("email", email), now.astimezone(UTC).isoformat()),
            )
        return removed


def on_sqlite(ledger: Ledger) -> bool:
    """Whether retention and forgetting work on this ledger (for now, only on SQLite)."""
    return isinstance(getattr(ledger, "backend", None), SqliteBackend)


def sqlite_connection(ledger: Ledger) -> sqlite3.Connection:
    """The SQLite ledger's own connection: retention and forgetting still speak SQLite."""
    backend = getattr(ledger, "backend", None)
    if not isinstance(backend, SqliteBackend):
        raise ConfigError(
            f"{ledger.where}: forgetting, exporting and retention work only on a SQLite"
            " ledger for now ([ledger] url = sqlite:///...)"
        )
    return backend.raw()


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


PRIVACY_TABLES = ("retired_sessions", "kept_bindings", "forgotten", "forget_requests")


def copy_privacy(source: Ledger, target: Ledger) -> Counter[str]:
    """What a SQLite `source` remembers of forgotten people and retired sessions, into `target`.

    A ledger that cannot hold it (PostgreSQL, for now) is refused while there
    is something to carry: without it forgotten people would come back.
    """
    copied: Counter[str] = Counter()
    if not on_sqlite(source):
        return copied
    read = sqlite_connection(source)
    present = {name for (name,) in read.execute("SELECT name FROM sqlite_master")}
    held = {
        table: read.execute(f"SELECT * FROM {table}").fetchall()
        for table in PRIVACY_TABLES
        if table in present
    }
    if not any(held.values()):
        return copied
    if not on_sqlite(target):
        raise LedgerError(
            f"{source.where} remembers forgotten people and retired sessions, which"
            f" {target.where} cannot hold yet (only a SQLite ledger can): not migrated"
        )
    write = sqlite_connection(target)
    write.executescript(SCHEMA)
    with _transaction(write) as db:
        for table, rows in held.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                db.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
                copied[table] = len(rows)
    return copied


def ask_to_forget(ledger: Ledger, token: str, at: datetime) -> None:
    """Keep a "forget me" answered on `mailer serve` (its sealed token) for the next run."""
    db = sqlite_connection(ledger)
    db.executescript(SCHEMA)
    db.execute(
        "INSERT OR IGNORE INTO forget_requests VALUES (?, ?)",
        (token, at.astimezone(UTC).isoformat()),
    )


def forget_requests(ledger: Ledger) -> list[tuple[str, datetime]]:
    """(token, when) of every "forget me" waiting, oldest first."""
    db = sqlite_connection(ledger)
    db.executescript(SCHEMA)
    rows = db.execute("SELECT token, at FROM forget_requests ORDER BY at").fetchall()
    return [(token, datetime.fromisoformat(at)) for token, at in rows]


def drop_forget_request(ledger: Ledger, token: str) -> None:
    sqlite_connection(ledger).execute("DELETE FROM forget_requests WHERE token = ?", (token,))


def secure(ledger: Ledger) -> None:
    """Deleted content is overwritten with zeros in this connection from now on."""
    sqlite_connection(ledger).execute("PRAGMA secure_delete = ON")
