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

The same queries run on SQLite and PostgreSQL; the keyed hashes are made
here, in Python, so both hold the same hashes. What is left of deleted rows
is each backend's to clear (`Backend.zero_deleted`, `Backend.reclaim`): on
SQLite deleted content is overwritten, the file vacuumed and its
write-ahead log truncated; on PostgreSQL the tables touched are vacuumed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mailer.core.batches import batches
from mailer.core.keyed import MARK, keyed
from mailer.ledger.protocols import Ledger
from mailer.ledger.reads import named_marks
from mailer.ledger.records import CHUNK, PENDING, SENDING, SKIPPED
from mailer.ledger.tables import BODIES_KEPT, DIGESTS_IN_CLEAR, SENT_OR_DECIDED
from mailer.mail.states import RETRY, UNKNOWN

if TYPE_CHECKING:  # the store opens when something is removed, not when a run only reads
    from mailer.ledger.connection import Backend, Connection
    from mailer.ledger.store import SqlLedger
    from mailer.rules.binding import Memory

OPEN_STATES = (PENDING, RETRY, SENDING, UNKNOWN)  # kept as counts, these become skipped
NOT_HASHED = "key NOT LIKE :hashed"  # with `HASHED`: a message not yet kept as a count
HASHED = MARK + "%"
# Messages whose stored body and envelope are due to go: BODIES_KEPT as it is, so the
# partial index that holds only these messages serves it.
BODIES_DUE = f"{BODIES_KEPT} AND {SENT_OR_DECIDED} < :before"
# Digest messages decided before :cutoff and not yet kept as counts: those out of pending
# through their partial index (its WHERE written out as it is, so the query can use it), the
# pending ones through messages_by_state. Each costs what is due, not every message kept.
DUE_DIGESTS = (
    "SELECT (SELECT count(*) FROM messages"
    f" WHERE {DIGESTS_IN_CLEAR} AND created_at < :cutoff)"
    " + (SELECT count(*) FROM messages"
    f" WHERE state = :pending AND kind = 'digest' AND created_at < :cutoff AND {NOT_HASHED})"
)
# A message's own fields once it is kept only as a count: who and what are gone (its key
# and address are replaced by keyed hashes, row by row, in `Privacy._keep_as_counts`).
AS_COUNT = (
    "UPDATE messages SET body_id = '', envelope = '{}', reason = '', provider_id = '',"
    " state = CASE WHEN state IN"
    f" ({', '.join(f':open{i}' for i in range(len(OPEN_STATES)))}) THEN :skipped ELSE state END"
)
AS_COUNT_STATES = {
    **{f"open{i}": state for i, state in enumerate(OPEN_STATES)},
    "skipped": SKIPPED,
}
HASHED_KEYS = "UPDATE messages SET key = :hashed_key, email = :hashed_email WHERE key = :key"
ORPHAN_BODIES = (
    "DELETE FROM bodies WHERE id IN (SELECT id FROM bodies EXCEPT SELECT body_id FROM messages)"
)
# The tables whose rows name people: what is vacuumed after people leave them.
PERSONAL_TABLES = (
    "messages",
    "bodies",
    "seats",
    "bindings",
    "seat_tokens",
    "requests",
    "unsubscribe_tokens",
    "suppressions",
    "bounces",
)


@dataclass(eq=False, repr=False)
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


def sql_ledger(ledger: Ledger) -> SqlLedger:
    from mailer.ledger.store import store_of

    return store_of(ledger)


class Privacy:
    """Retention and forgetting on one ledger; `secret` is asked for only when a hash is needed.

    The forgotten addresses and the kept bindings are read once, when first
    asked about, and looked up in memory after that.
    """

    def __init__(self, ledger: Ledger, secret: Callable[[], str]):
        self.reads = ledger  # on SQLite, through sqlite3 until something is removed
        self._secret = secret
        self._forgotten: dict[str, str] | None = None  # keyed hash -> when they asked
        self._kept_bindings: dict[str, str] | None = None  # keyed hash -> session

    @functools.cached_property
    def secret(self) -> str:
        return self._secret()

    @functools.cached_property
    def ledger(self) -> SqlLedger:
        """The ledger's store, opened for the first removal."""
        return sql_ledger(self.reads)

    @property
    def backend(self) -> Backend:
        return self.ledger.backend

    def hash(self, purpose: str, text: str) -> str:
        return keyed(self.secret, purpose, text)

    def _rows(self, query: str, **params: object) -> list[Any]:
        return self.reads.select(query, **params)

    @contextmanager
    def _removing(self) -> Iterator[Connection]:
        """One write transaction whose deleted content the database overwrites, where it can."""
        with self.ledger.transaction() as db:
            self.backend.zero_deleted(db)
            yield db

    @staticmethod
    def _upsert(
        db: Connection, table: str, rows: Sequence[Mapping[str, object]], update: bool
    ) -> None:
        """Insert rows of the same columns; one whose key is there is kept, or with `update` set."""
        import mailer.ledger.statements as statements  # with the store, when anything goes

        insert = statements.replace if update else statements.insert_new
        db.run(insert(table, tuple(rows[0])), rows)

    # What jobs ask

    def retired_sessions(self) -> set[str]:
        return {i for (i,) in self._rows("SELECT event_id FROM retired_sessions")}

    def _kept(self) -> dict[str, str]:
        if self._kept_bindings is None:
            rows = self._rows("SELECT hash, event_id FROM kept_bindings")
            self._kept_bindings = {h: e for h, e in rows}
        return self._kept_bindings

    def retired_binding(self, identity: tuple[str, str]) -> str | None:
        kept = self._kept()
        return kept.get(self.hash("binding", "\0".join(identity))) if kept else None

    def remembering(self, memory: Memory) -> Memory:
        """The memory with the bindings of retired sessions found too."""
        if not self._kept():
            return memory
        from mailer.rules.binding import Memory  # the rules load where a pass plans in full

        return Memory(
            HashedBindings(memory.bindings, self), memory.names, memory.aliases, memory.known
        )

    def _asked(self) -> dict[str, str]:
        if self._forgotten is None:
            self._forgotten = {h: at for h, at in self._rows("SELECT hash, at FROM forgotten")}
        return self._forgotten

    def anyone_forgotten(self) -> bool:
        """Whether anyone asked to be forgotten (most ledgers: nobody; then no address is)."""
        return bool(self._asked())

    def forgotten_at(self, email: str) -> datetime | None:
        """When this (normalized) address asked to be forgotten, if it did."""
        asked = self._asked()
        at = asked.get(self.hash("email", email)) if asked else None
        return datetime.fromisoformat(at) if at else None

    def message_times(self, keys: Sequence[str]) -> dict[str, str]:
        """When each of these messages (by key in clear) was sent, or decided if it never was.

        Keys the ledger does not hold are left out. One query per CHUNK keys:
        an outbox of ten thousand messages asked one at a time took a second.
        """
        times: dict[str, str] = {}
        for start in range(0, len(keys), CHUNK):
            marks, values = named_marks("k", keys[start : start + CHUNK])
            query = (
                f"SELECT key, COALESCE(sent_at, created_at) FROM messages WHERE key IN ({marks})"
            )
            times.update((key, str(at)) for key, at in self._rows(query, **values))
        return times

    def any_kept_as_count(self) -> bool:
        """Whether any message is kept as a count, under a keyed hash of its key."""
        return bool(self._rows("SELECT 1 FROM messages WHERE key LIKE :h LIMIT 1", h=HASHED))

    def kept_as_count(self, key: str) -> bool:
        """Whether the message with this key (in clear) is kept as a count: its session retired."""
        query = "SELECT 1 FROM messages WHERE key = :k"
        return bool(self._rows(query, k=self.hash("message", key)))

    # Retention

    def outbox_kept(self, folder: str) -> tuple[str, datetime] | None:
        """(the index file as it was, the oldest moment among its messages) after the last prune."""
        rows = self._rows(
            "SELECT index_file, oldest FROM outbox_kept WHERE folder = :folder", folder=folder
        )
        return (rows[0][0], datetime.fromisoformat(rows[0][1])) if rows else None

    def keep_outbox(self, folder: str, index_file: str, oldest: datetime | None) -> None:
        """What a prune left in an outbox: its index file, and when its oldest message went."""
        with self.ledger.transaction() as db:
            db.run("DELETE FROM outbox_kept WHERE folder = :folder", {"folder": folder})
            if oldest is not None:
                db.run(
                    "INSERT INTO outbox_kept VALUES (:folder, :index_file, :oldest)",
                    {
                        "folder": folder,
                        "index_file": index_file,
                        "oldest": oldest.astimezone(UTC).isoformat(),
                    },
                )

    def strip_bodies(self, before: datetime, dry_run: bool = False) -> int:
        """Remove the stored body and envelope of messages sent (or skipped) before `before`."""
        args = {"before": before.astimezone(UTC).isoformat()}
        due = int(self._rows(f"SELECT count(*) FROM messages WHERE {BODIES_DUE}", **args)[0][0])
        if dry_run or not due:
            return due  # a run with nothing to strip writes nothing
        with self._removing() as db:
            update = f"UPDATE messages SET body_id = '', envelope = '{{}}' WHERE {BODIES_DUE}"
            count = db.run(update, args)
            db.run(ORPHAN_BODIES)
        return count

    def retire(
        self, sessions: list[str], digests_before: datetime, now: datetime, dry_run: bool = False
    ) -> Removed:
        """Retire these sessions and keep digest messages decided before a moment as counts."""
        removed = Removed(sessions=list(sessions))
        removed.seats = self._count("seats", sessions)
        removed.messages = self._count("messages", sessions, f" AND {NOT_HASHED}")
        digests = {"cutoff": digests_before.astimezone(UTC).isoformat(), "hashed": HASHED}
        digest_messages = f"kind = 'digest' AND created_at < :cutoff AND {NOT_HASHED}"
        removed.messages += int(self._rows(DUE_DIGESTS, **digests, pending=PENDING)[0][0])
        if dry_run or not removed:
            return removed
        with self._removing() as db:
            for event_id in sessions:
                self._retire_one(db, event_id, now)
            db.run(
                "DELETE FROM bounces WHERE message_key IN"
                f" (SELECT key FROM messages WHERE {digest_messages})",
                digests,
            )
            self._keep_as_counts(db, digest_messages, digests)
            removed.other = self._orphan_tokens(db)
            db.run(ORPHAN_BODIES)
        self._kept_bindings = None
        return removed

    def _retire_one(self, db: Connection, event_id: str, now: datetime) -> None:
        where = {"e": event_id}
        counted = db.rows(
            "SELECT status, count(*) FROM seats WHERE event_id = :e GROUP BY status", where
        )
        seats = {status: int(n) for status, n in counted}
        bindings = db.rows("SELECT stamp, email FROM bindings WHERE event_id = :e", where)
        for chunk in batches(bindings, CHUNK):
            kept = [
                {"hash": self.hash("binding", f"{stamp}\0{email}"), "event_id": event_id}
                for stamp, email in chunk
            ]
            self._upsert(db, "kept_bindings", kept, update=False)
        query = "SELECT count(*) FROM messages WHERE event_id = :e"
        messages = int(db.rows(query, where)[0][0])
        db.run(  # a bounce names the message and the address: it goes with them
            "DELETE FROM bounces WHERE message_key IN"
            " (SELECT key FROM messages WHERE event_id = :e)",
            where,
        )
        self._keep_as_counts(db, "event_id = :e", {**where, "hashed": HASHED})
        for table in ("bindings", "seats", "seat_tokens", "requests"):
            db.run(f"DELETE FROM {table} WHERE event_id = :e", where)
        row = {
            "event_id": event_id,
            "retired_at": now.astimezone(UTC).isoformat(),
            "seats": json.dumps(seats, sort_keys=True),
            "messages": messages,
        }
        self._upsert(db, "retired_sessions", [row], update=True)

    def _keep_as_counts(self, db: Connection, where: str, params: Mapping[str, object]) -> None:
        """The messages `where` picks, not yet hashed, kept as counts under keyed hashes."""
        picked = f"({where}) AND {NOT_HASHED}"
        # On a shared ledger, a sender that holds one of these rows finishes with it first.
        lock = self.backend.lock_own_rows
        rows = db.rows(f"SELECT key, email FROM messages WHERE {picked}{lock}", params)
        db.run(f"{AS_COUNT} WHERE {picked}", {**params, **AS_COUNT_STATES})
        for chunk in batches(rows, CHUNK):
            hashed = [
                {
                    "key": key,
                    "hashed_key": self.hash("message", key),
                    "hashed_email": self.hash("email", email),
                }
                for key, email in chunk
            ]
            db.run(HASHED_KEYS, hashed)

    @staticmethod
    def _orphan_tokens(db: Connection) -> int:
        """Older unsubscribe links' (token, address) pairs of addresses mailer no longer holds."""
        return db.run(
            "DELETE FROM unsubscribe_tokens WHERE email IN (SELECT email FROM"
            " unsubscribe_tokens EXCEPT SELECT email FROM seats EXCEPT SELECT email FROM"
            " messages EXCEPT SELECT email FROM suppressions)"
        )

    def _count(self, table: str, sessions: list[str], extra: str = "") -> int:
        query = f"SELECT count(*) FROM {table} WHERE event_id = :e{extra}"
        return sum(int(self._rows(query, e=e, hashed=HASHED)[0][0]) for e in sessions)

    def vacuum(self, full: bool = True) -> None:
        """Leave no deleted row where the database keeps it; `full` after the larger removals.

        On SQLite: empty the write-ahead log, and with `full` rewrite the file
        without free pages (deleted content is zeroed already). On PostgreSQL:
        vacuum the tables that name people.
        """
        self.backend.reclaim(PERSONAL_TABLES, full)

    # One person

    def holds(self, email: str) -> dict[str, list[dict[str, Any]]]:
        """Everything the ledger holds about one (normalized) address, for `mailer export`."""
        rows = functools.partial(self._rows, m=email)
        seats = [
            {"session": e, "status": s, "position": p, "row": r, "name": n}
            for e, s, p, r, n in rows(
                "SELECT event_id, status, position, row, name FROM seats WHERE email = :m"
                " ORDER BY event_id"
            )
        ]
        messages = []
        for key, kind, event_id, state, created, sent, body_id, reason in rows(
            "SELECT key, kind, event_id, state, created_at, sent_at, body_id, reason"
            " FROM messages WHERE email = :m ORDER BY created_at, key"
        ):
            body = self._rows("SELECT body FROM bodies WHERE id = :b", b=body_id)
            subject = json.loads(body[0][0]).get("subject", "") if body else ""
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
            for r, at in rows(
                "SELECT reason, created_at FROM suppressions WHERE email = :m ORDER BY created_at"
            )
        ]
        requests = [
            {"session": e, "kind": k, "at": at, "source": s, "acted_on": a}
            for e, k, at, s, a in rows(
                "SELECT event_id, kind, at, source, applied_at FROM requests WHERE email = :m"
                " ORDER BY at"
            )
        ]
        answers = [
            {"answered_at": stamp, "session": e}
            for stamp, e in rows(
                "SELECT stamp, event_id FROM bindings WHERE email = :m ORDER BY stamp"
            )
        ]
        bounces = [
            {"message": k, "kind": kind, "status": st, "diagnostic": d, "at": at}
            for k, kind, st, d, at in rows(
                "SELECT message_key, kind, status, diagnostic, at FROM bounces WHERE email = :m"
                " ORDER BY at"
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
        removed = Removed()
        forgotten = {"hash": self.hash("email", email), "at": now.astimezone(UTC).isoformat()}
        with self._removing() as db:

            def delete(table: str) -> int:
                return db.run(f"DELETE FROM {table} WHERE email = :m", {"m": email})

            removed.seats = delete("seats")
            removed.messages = delete("messages")
            for table in PERSONAL_TABLES:
                if table not in ("seats", "messages", "bodies"):  # bodies: by ORPHAN_BODIES
                    removed.other += delete(table)
            db.run(ORPHAN_BODIES)
            self._upsert(db, "forgotten", [forgotten], update=True)
        self._forgotten = None
        return removed


def ask_to_forget(ledger: Ledger, token: str, at: datetime) -> None:
    """Keep a "forget me" answered on `mailer serve` (its sealed token) for the next run."""
    row = {"token": token, "at": at.astimezone(UTC).isoformat()}
    with sql_ledger(ledger).transaction() as db:
        Privacy._upsert(db, "forget_requests", [row], update=False)


def forget_requests(ledger: Ledger) -> list[tuple[str, datetime]]:
    """(token, when) of every "forget me" waiting, oldest first."""
    rows = ledger.select("SELECT token, at FROM forget_requests ORDER BY at, token")
    return [(token, datetime.fromisoformat(at)) for token, at in rows]


def drop_forget_request(ledger: Ledger, token: str) -> None:
    with sql_ledger(ledger).transaction() as db:
        db.run("DELETE FROM forget_requests WHERE token = :t", {"t": token})
