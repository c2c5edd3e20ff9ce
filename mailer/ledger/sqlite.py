"""The memory between runs: SQLite holding the roster, every message, and suppressions.

A run takes an exclusive lock for its whole length, decides and commits the
seats and pending messages in one transaction, then sends and marks each
message as it goes. A crash between send and mark repeats at most that message.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailer.core.errors import LedgerError, LockedError
from mailer.core.files import private_folder
from mailer.core.redact import redact
from mailer.mail.message import (
    FAILED,
    RETRY,
    SENT,
    UNKNOWN,
    Body,
    Draft,
    OutgoingMessage,
    SendResult,
    priority,
)
from mailer.model import Event
from mailer.rules import self_service
from mailer.rules.adoption import Adopted
from mailer.rules.binding import Memory
from mailer.rules.changes import StoredEvent
from mailer.rules.roster import Previous
from mailer.rules.self_service import RELEASE, Request, SeatRef

PENDING = "pending"
# Committed before a message is handed to the transport; one still there when the
# next run starts was cut off mid-send and becomes UNKNOWN.
SENDING = "sending"
SKIPPED = "skipped"
BOUNCE = "bounce"
SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    label TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    timezone TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    join_url TEXT NOT NULL,
    signup_url TEXT NOT NULL,
    status TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    missing INTEGER NOT NULL DEFAULT 0,
    titles TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS seats (
    event_id TEXT NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL,
    position INTEGER,
    row INTEGER NOT NULL,
    address TEXT NOT NULL,
    name TEXT NOT NULL,
    written TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (event_id, email)
);
CREATE TABLE IF NOT EXISTS bindings (
    stamp TEXT NOT NULL,
    email TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (stamp, email)
);
CREATE TABLE IF NOT EXISTS event_names (
    name TEXT PRIMARY KEY,
    event_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    sheet_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS forms (
    form TEXT PRIMARY KEY,
    options TEXT NOT NULL,
    accepting INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS series_events (
    event_id TEXT PRIMARY KEY,
    series TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bodies (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    event_id TEXT NOT NULL,
    email TEXT NOT NULL,
    state TEXT NOT NULL,
    body_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    provider_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    tried_at TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_state ON messages (state);
CREATE INDEX IF NOT EXISTS messages_by_event ON messages (event_id, email);
CREATE INDEX IF NOT EXISTS messages_by_sent_at ON messages (sent_at);
CREATE TABLE IF NOT EXISTS pauses (
    transport TEXT PRIMARY KEY,
    until TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS digests (
    job TEXT NOT NULL,
    slot TEXT NOT NULL,
    held TEXT NOT NULL,
    recipients INTEGER NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (job, slot)
);
CREATE TABLE IF NOT EXISTS unsubscribe_tokens (
    token TEXT PRIMARY KEY,
    email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressions (
    email TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (email, reason)
);
CREATE TABLE IF NOT EXISTS seat_tokens (
    lookup TEXT PRIMARY KEY,
    signer TEXT NOT NULL,
    action TEXT NOT NULL,
    event_id TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seat_tokens_by_seat ON seat_tokens (event_id, email, signer);
CREATE TABLE IF NOT EXISTS fingerprints (
    job TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    token TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    email TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    applied_at TEXT
);
CREATE TABLE IF NOT EXISTS bounces (
    report TEXT NOT NULL,
    message_key TEXT NOT NULL,
    email TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    diagnostic TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (report, message_key)
);
CREATE INDEX IF NOT EXISTS bounces_by_email ON bounces (email);
CREATE TABLE IF NOT EXISTS mailbox_positions (
    mailbox TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    scanned_at TEXT NOT NULL
);
"""

# Upgrades of a ledger written by an earlier version: schema version -> statements.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE events ADD COLUMN missing INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE seats ADD COLUMN written TEXT NOT NULL DEFAULT ''",
        "UPDATE seats SET written = status",
    ),
    3: (
        "ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN tried_at TEXT",
        "UPDATE messages SET priority = 1 WHERE kind = 'digest'",
    ),
    # People's own answers (release, claim), acted on once: see mailer.self_service.
    4: (
        "CREATE TABLE IF NOT EXISTS requests (token TEXT PRIMARY KEY, event_id TEXT NOT NULL,"
        " email TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL, source TEXT NOT NULL,"
        " applied_at TEXT)",
    ),
    # One suppression per address and reason: a bounce is never lost behind an unsubscribe.
    5: (
        "CREATE TABLE suppressions_by_reason (email TEXT NOT NULL, reason TEXT NOT NULL,"
        " created_at TEXT NOT NULL, PRIMARY KEY (email, reason))",
        "INSERT INTO suppressions_by_reason SELECT email, reason, created_at FROM suppressions",
        "DROP TABLE suppressions",
        "ALTER TABLE suppressions_by_reason RENAME TO suppressions",
    ),
    # Each person's language, so reminders and promotions speak it; each session's titles
    # in the site's other languages (blank: the site's default language, as before).
    6: (
        "ALTER TABLE seats ADD COLUMN language TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE events ADD COLUMN titles TEXT NOT NULL DEFAULT '{}'",
    ),
}


ADDED_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+) ")


def _has_already(db: sqlite3.Connection, statement: str) -> bool:
    """Whether a step's ADD COLUMN is there already (a ledger whose version says older)."""
    added = ADDED_COLUMN.match(statement)
    if added is None:
        return False
    table, column = added.groups()
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


@dataclass(frozen=True)
class SeatRow:
    event_id: str
    email: str
    status: str
    position: int | None
    row: int
    address: str = ""
    name: str = ""
    written: str = ""  # what mailer last put in the Status cell
    language: str = ""  # the language the person's emails speak ("": the site's default)


@dataclass
class Decisions:
    """What one signups run decided, committed at once."""

    events: Sequence[StoredEvent] = ()
    seats: Sequence[SeatRow] = ()
    drafts: Iterable[Draft] = ()
    bindings: Sequence[tuple[str, str, str]] = ()  # (stamp, email, event id)
    names: Sequence[tuple[str, str]] = ()  # (an id or label, event id)
    aliases: Sequence[tuple[str, str]] = ()  # (id on the sheet, ledger id)
    adopted: Sequence[Adopted] = ()
    missing: Sequence[str] = ()  # ledger ids of sessions no longer on the events tab
    applied: Sequence[tuple[str, datetime]] = ()  # (token, when) of requests acted on


@dataclass(frozen=True)
class MessageRow:
    key: str
    kind: str
    event_id: str
    email: str
    state: str
    reason: str
    attempts: int
    created_at: str
    sent_at: str | None
    provider_id: str = ""


@dataclass(frozen=True)
class BounceRow:
    """One bounce or complaint read from the sending mailbox, as the ledger keeps it."""

    email: str
    kind: str  # hard, soft, complaint (mailer.rules.bounces)
    status: str
    diagnostic: str
    message_key: str
    at: str


class BounceMemory:
    """The ledger's part for bounces read over IMAP: the bounces, and where each scan stopped.

    Mixed into Ledger; every method here reads or writes only its own two tables
    and the messages it looks a bounce up in.
    """

    db: sqlite3.Connection

    def mailbox_position(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID) where the last scan of `mailbox` stopped, if any."""
        row = self.db.execute(
            "SELECT uidvalidity, last_uid FROM mailbox_positions WHERE mailbox = ?", (mailbox,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def set_mailbox_position(
        self, mailbox: str, uidvalidity: int, last_uid: int, now: datetime
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO mailbox_positions VALUES (?, ?, ?, ?)",
            (mailbox, uidvalidity, last_uid, now.astimezone(UTC).isoformat()),
        )

    def handed_over(self, email: str | None = None) -> list[tuple[str, str, str]]:
        """(key, email, event) of messages handed to a provider, to one address or to all."""
        query = "SELECT key, email, event_id FROM messages WHERE sent_at IS NOT NULL OR state = ?"
        args: tuple[str, ...] = (UNKNOWN,)
        if email is not None:
            query = f"SELECT * FROM ({query}) WHERE email = ?"
            args += (email.casefold(),)
        return [(k, e, ev) for k, e, ev in self.db.execute(query, args)]

    def record_bounce(self, report: str, bounce: BounceRow) -> bool:
        """Keep one bounce; False when this report about this message was taken before."""
        return bool(
            self.db.execute(
                "INSERT OR IGNORE INTO bounces VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    report,
                    bounce.message_key,
                    bounce.email.casefold(),
                    bounce.kind,
                    bounce.status,
                    bounce.diagnostic,
                    bounce.at,
                ),
            ).rowcount
        )

    def recent_soft_bounces(self, email: str, sends: int) -> list[bool]:
        """For the address's last `sends` messages, newest first: whether each bounced soft."""
        rows = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM bounces b WHERE b.message_key = m.key"
            " AND b.kind = 'soft') FROM messages m WHERE m.email = ? AND"
            " COALESCE(m.sent_at, m.tried_at) IS NOT NULL"
            " ORDER BY COALESCE(m.sent_at, m.tried_at) DESC, m.key DESC LIMIT ?",
            (email.casefold(), sends),
        )
        return [bool(soft) for (soft,) in rows]

    def bounced_last(self) -> list[BounceRow]:
        """Bounces of the latest message handed over to each address: it is unreachable now."""
        rows = self.db.execute(
            "SELECT b.email, b.kind, b.status, b.diagnostic, b.message_key, b.at FROM bounces b"
            " WHERE b.kind != 'complaint' AND b.message_key = (SELECT m.key FROM messages m"
            " WHERE m.email = b.email AND COALESCE(m.sent_at, m.tried_at) IS NOT NULL"
            " ORDER BY COALESCE(m.sent_at, m.tried_at) DESC, m.key DESC LIMIT 1)"
            " ORDER BY b.email, b.at"
        )
        return [BounceRow(*row) for row in rows]

    def bounces(self) -> list[BounceRow]:
        """Every bounce and complaint read from the mailbox, newest first."""
        rows = self.db.execute(
            "SELECT email, kind, status, diagnostic, message_key, at FROM bounces"
            " ORDER BY at DESC, email"
        )
        return [BounceRow(*row) for row in rows]


class Ledger(BounceMemory):
    def __init__(self, path: Path):
        self.path = Path(path)
        private_folder(self.path.parent)
        # Addresses and names live here: only the owner may read it (SQLite gives
        # the -wal and -shm files the same mode).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL keeps every commit across a killed process; only a power
        # cut may lose the last few marks, which then resend (at least once).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        (tables,) = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if tables and version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} holds ledger schema {version}; this mailer knows up to "
                f"{SCHEMA_VERSION}. Keep the file and run the mailer version that wrote it."
            )
        if tables and version < SCHEMA_VERSION:
            with self.transaction() as db:
                # Another process may have upgraded it while this one waited for the lock.
                (version,) = db.execute("PRAGMA user_version").fetchone()
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS.get(step, ()):
                        if not _has_already(db, statement):
                            db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.db.executescript(SCHEMA)  # a new ledger, or the tables new in this version
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def previous(self, event_id: str) -> Previous:
        seats = self.db.execute(
            "SELECT email, status, written, row FROM seats WHERE event_id = ?", (event_id,)
        ).fetchall()
        notified: set[tuple[str, str]] = set()
        query = "SELECT kind, email, key FROM messages WHERE event_id = ?"
        for kind, email, key in self.db.execute(query, (event_id,)):
            # The key starts with the kind and its version, if any (see roster.Notice.key).
            notified |= {(kind, email), (key.split(":", 1)[0], email)}
        return Previous(
            statuses={email: status for email, status, _, _ in seats},
            notified=frozenset(notified),
            written={email: written for email, _, written, _ in seats if written},
            rows={email: row for email, _, _, row in seats},
        )

    def memory(self) -> Memory:
        """What binds answers and rows to sessions, for mailer.rules.binding."""
        bindings = {
            (stamp, email): event_id
            for stamp, email, event_id in self.db.execute("SELECT * FROM bindings")
        }
        names = dict(self.db.execute("SELECT name, event_id FROM event_names"))
        aliases = dict(self.db.execute("SELECT sheet_id, event_id FROM aliases"))
        known = frozenset(i for (i,) in self.db.execute("SELECT id FROM events"))
        return Memory(bindings, names, aliases, known)

    def record(self, decided: Decisions) -> int:
        """Commit events, every seat of those events, their messages and bindings at once.

        Returns how many messages were new.
        """
        with self.transaction() as db:
            self._record_events(db, decided.events)
            self._record_seats(db, [s.event.id for s in decided.events], decided.seats)
            db.executemany("INSERT OR IGNORE INTO bindings VALUES (?, ?, ?)", decided.bindings)
            db.executemany("INSERT OR REPLACE INTO event_names VALUES (?, ?)", decided.names)
            db.executemany("INSERT OR REPLACE INTO aliases VALUES (?, ?)", decided.aliases)
            db.executemany(
                "UPDATE events SET missing = 1 WHERE id = ?", [(i,) for i in decided.missing]
            )
            db.executemany(
                "UPDATE requests SET applied_at = ? WHERE token = ? AND applied_at IS NULL",
                [(at.astimezone(UTC).isoformat(), token) for token, at in decided.applied],
            )
            db.executemany(
                "INSERT OR IGNORE INTO messages (key, kind, event_id, email, state, body_id,"
                " envelope, reason, created_at, sent_at) VALUES (?, ?, ?, ?, ?, '', '{}', ?, ?, ?)",
                [
                    (
                        a.key,
                        a.kind,
                        a.event_id,
                        a.email,
                        SENT,
                        "adopted from the sheet's Notified column",
                        a.at.astimezone(UTC).isoformat(),
                        a.at.astimezone(UTC).isoformat(),
                    )
                    for a in decided.adopted
                ],
            )
            return self._insert_drafts(db, decided.drafts)

    @staticmethod
    def _record_seats(
        db: sqlite3.Connection, event_ids: list[str], seats: Sequence[SeatRow]
    ) -> None:
        """Every seat of these events as decided, written only for the events whose seats changed.

        A changed event's seats are written again whole, in the plan's order, as
        `seats()` lists them; an event whose seats are as they were is not touched.
        """
        wanted: dict[str, list[tuple[object, ...]]] = {event_id: [] for event_id in event_ids}
        for s in seats:
            row = (
                s.event_id,
                s.email,
                s.status,
                s.position,
                s.row,
                s.address,
                s.name,
                s.written,
                s.language,
            )
            wanted.setdefault(s.event_id, []).append(row)
        held: dict[str, list[tuple[object, ...]]] = {}
        for row in db.execute(
            "SELECT event_id, email, status, position, row, address, name, written, language"
            " FROM seats ORDER BY event_id, rowid"
        ):
            if row[0] in wanted:
                held.setdefault(row[0], []).append(row)
        changed = [event_id for event_id, rows in wanted.items() if held.get(event_id, []) != rows]
        db.executemany("DELETE FROM seats WHERE event_id = ?", [(i,) for i in changed])
        db.executemany(
            "INSERT INTO seats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [row for event_id in changed for row in wanted[event_id]],
        )

    def form_pushed(self, form: str) -> tuple[tuple[str, ...], bool] | None:
        """The choices and open/closed state mailer last gave this form, if any."""
        row = self.db.execute(
            "SELECT options, accepting FROM forms WHERE form = ?", (form,)
        ).fetchone()
        return None if row is None else (tuple(json.loads(row[0])), bool(row[1]))

    def state_token(self) -> str:
        """What every job reads of the ledger, digested: equal tokens, the same ledger to decide on.

        Equal whenever nothing was written since, or only what was there already;
        any decision, message, send, suppression, request or pause changes it.
        """
        import hashlib

        digest = hashlib.sha256()
        for query in STATE_QUERIES:
            digest.update(repr(self.db.execute(query).fetchone()).encode("utf-8"))
        return digest.hexdigest()

    def fingerprint(self, job: str) -> tuple[str, str] | None:
        """What the last run of `job` that changed nothing decided from (digested), and reported."""
        row = self.db.execute(
            "SELECT digest, report FROM fingerprints WHERE job = ?", (job,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def set_fingerprint(self, job: str, digest: str | None, report: str = "") -> None:
        """Keep (or, with None, forget) the fingerprint of a run of `job` that changed nothing."""
        with self.transaction() as db:
            db.execute("DELETE FROM fingerprints WHERE job = ?", (job,))
            if digest is not None:
                db.execute("INSERT INTO fingerprints VALUES (?, ?, ?)", (job, digest, report))

    def set_form_pushed(self, form: str, options: Sequence[str], accepting: bool) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO forms VALUES (?, ?, ?)",
            (form, json.dumps(list(options), ensure_ascii=False), int(accepting)),
        )

    def series_events(self) -> set[str]:
        """Ids of the Events rows mailer added for a series (never added twice)."""
        return {i for (i,) in self.db.execute("SELECT event_id FROM series_events")}

    def add_series_events(self, added: Iterable[tuple[str, str]], now: datetime) -> None:
        at = now.astimezone(UTC).isoformat()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO series_events VALUES (?, ?, ?)",
                [(event_id, series, at) for event_id, series in added],
            )

    def set_written(self, cells: Iterable[tuple[str, str, str]]) -> None:
        """Remember what now stands in each (event, email)'s Status cell, as mailer wrote it."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE seats SET written = ? WHERE event_id = ? AND email = ?",
                [(status, event_id, email) for event_id, email, status in cells],
            )

    @staticmethod
    def _record_events(db: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            [
                (
                    e.id,
                    e.title,
                    e.label,
                    e.starts_at.isoformat(),
                    e.ends_at.isoformat(),
                    e.timezone,
                    e.capacity,
                    e.join_url,
                    e.signup_url,
                    e.status,
                    stored.sequence,
                    json.dumps(dict(e.titles), ensure_ascii=False, sort_keys=True),
                )
                for stored in events
                for e in [stored.event]
            ],
        )

    @staticmethod
    def _insert_drafts(db: sqlite3.Connection, drafts: Iterable[Draft]) -> int:
        """Insert messages (and each body once) from a stream; returns how many were new."""
        bodies: set[str] = set()
        new_bodies = 0
        envelope = json.JSONEncoder(ensure_ascii=False).encode
        stamps: dict[datetime, str] = {}  # a digest's drafts share one moment

        def rows() -> Iterator[tuple[object, ...]]:
            nonlocal new_bodies
            for d in drafts:
                stamp = stamps.get(d.created_at)
                if stamp is None:
                    stamp = stamps[d.created_at] = d.created_at.isoformat()
                if d.body.id not in bodies:
                    bodies.add(d.body.id)
                    new_bodies += db.execute(
                        "INSERT OR IGNORE INTO bodies VALUES (?, ?)", (d.body.id, d.body.to_json())
                    ).rowcount
                yield (
                    d.key,
                    d.kind,
                    d.event_id,
                    d.to_email.casefold(),
                    PENDING,
                    d.body.id,
                    envelope({"to": d.to_email, "name": d.to_name, "person": dict(d.person)}),
                    stamp,
                    priority(d.kind),
                )

        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO messages (key, kind, event_id, email, state, body_id,"
            " envelope, created_at, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        return db.total_changes - before - new_bodies

    def add(self, drafts: Iterable[Draft]) -> int:
        """Commit messages that decide no seat (reminders, digests); returns how many were new."""
        return self.record(Decisions(drafts=drafts))

    def count_due(self) -> int:
        query = "SELECT count(*) FROM messages WHERE state IN (?, ?)"
        count: int = self.db.execute(query, (PENDING, RETRY)).fetchone()[0]
        return count

    def due(self, batch: int = 500) -> Iterator[list[OutgoingMessage]]:
        """Messages decided but not delivered (new, or left by a pause or a 4xx), in batches.

        Time-critical mail comes before the digest (by priority); messages that
        share a body come next to each other, so a transport can send them
        together. Pages through the ledger so a large send never holds every
        message at once.
        """
        after: tuple[object, ...] = (-1, "", "", "")
        bodies: dict[str, Body] = {}
        while True:
            rows = self.db.execute(
                "SELECT key, kind, event_id, envelope, created_at, body_id, priority"
                " FROM messages WHERE state IN (?, ?)"
                " AND (priority, created_at, body_id, key) > (?, ?, ?, ?)"
                " ORDER BY priority, created_at, body_id, key LIMIT ?",
                (PENDING, RETRY, *after, batch),
            ).fetchall()
            if not rows:
                return
            last = rows[-1]
            after = (last[6], last[4], last[5], last[0])
            yield [self._message(row, bodies) for row in rows]

    def _message(self, row: tuple[Any, ...], bodies: dict[str, Body]) -> OutgoingMessage:
        key, kind, event_id, envelope_json, created_at, body_id, _ = row
        if body_id not in bodies:
            query = "SELECT body FROM bodies WHERE id = ?"
            (text,) = self.db.execute(query, (body_id,)).fetchone()
            bodies[body_id] = Body.from_json(text)
        envelope = json.loads(envelope_json)
        draft = Draft(
            key=key,
            kind=kind,
            event_id=event_id,
            to_email=envelope["to"],
            to_name=envelope["name"],
            created_at=datetime.fromisoformat(created_at),
            body=bodies[body_id],
            person=envelope["person"],
        )
        return draft.message()

    def claim(
        self, messages: Sequence[OutgoingMessage], now: datetime, mark_sending: bool = True
    ) -> dict[str, str]:
        """Just before a send: which messages to hold back (key -> suppression reason).

        A bounce holds back every kind; an unsubscribe or a spam report holds back
        the digest. The rest are committed as `sending` in the same transaction, so
        a suppression written by `mailer serve` is either seen here or came after.
        """
        held: dict[str, str] = {}
        with self.transaction():
            found = self.suppressions_among(m.to_email for m in messages)
            for m in messages:
                reason = found.get(m.to_email.casefold())
                if reason == BOUNCE or (reason and priority(m.kind) > 0):
                    held[m.key] = reason
            if mark_sending:
                at = now.astimezone(UTC).isoformat()
                self.db.executemany(
                    "UPDATE messages SET state = ?, tried_at = ? WHERE key = ?",
                    [(SENDING, at, m.key) for m in messages if m.key not in held],
                )
        return held

    def requeue_untried(self, keys: Iterable[str]) -> None:
        """Messages marked sending that the transport never took (a pause stopped it)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE messages SET state = ? WHERE key = ? AND state = ?",
                [(PENDING, key, SENDING) for key in keys],
            )

    def interrupted(self) -> int:
        """Messages a killed run left mid-send become unknown; returns how many.

        Only a sending run calls this, under the run lock, so no other run is
        sending them right now.
        """
        return self.db.execute(
            "UPDATE messages SET state = ?, reason = ?, attempts = attempts + 1 WHERE state = ?",
            (UNKNOWN, "the run stopped while handing it to the provider", SENDING),
        ).rowcount

    def mark(self, result: SendResult, now: datetime) -> None:
        """Store one message's outcome as it came; a hard bounce suppresses the address.

        An unknown outcome never overwrites what the provider's webhook settled meanwhile.
        """
        at = now.astimezone(UTC).isoformat()
        only_sending = " AND state = 'sending'" if result.state == UNKNOWN else ""
        with self.transaction() as db:
            db.execute(
                "UPDATE messages SET state = ?, provider_id = ?, reason = ?,"
                " attempts = attempts + 1,"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE key = ?"
                + only_sending,
                (result.state, result.provider_id, result.reason, result.state, at, result.key),
            )
            if result.bounced:
                db.execute(
                    "INSERT OR IGNORE INTO suppressions"
                    " SELECT email, ?, ? FROM messages WHERE key = ?",
                    (BOUNCE, at, result.key),
                )

    def fail(self, key: str, reason: str) -> None:
        """A message the provider took but could not deliver (a bounce it reported later)."""
        self.db.execute(
            "UPDATE messages SET state = ?, reason = ? WHERE key = ?", (FAILED, reason, key)
        )

    def settle_sent(self, key: str, now: datetime) -> bool:
        """The provider says it took this message: it counts as sent and is not sent again."""
        at = now.astimezone(UTC).isoformat()
        return bool(
            self.db.execute(
                "UPDATE messages SET state = ?, reason = '',"
                " sent_at = COALESCE(sent_at, tried_at, ?)"
                " WHERE key = ? AND state IN (?, ?, ?, ?)",
                (SENT, at, key, UNKNOWN, SENDING, PENDING, RETRY),
            ).rowcount
        )

    def suppressions_among(self, emails: Iterable[str]) -> dict[str, str]:
        """Address (casefolded) -> why it is suppressed, for those of these that are.

        An address suppressed for several reasons gives its bounce, if it has one:
        that one holds back every kind of message.
        """
        wanted = list({e.casefold() for e in emails})
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT email, reason FROM suppressions WHERE email IN ({marks})"
                " ORDER BY reason = ?",
                (*chunk, BOUNCE),
            )
            found.update(rows)
        return found

    def counted_since(self, since: datetime) -> tuple[int, str | None]:
        """Messages handed to the provider after `since` (sent or unknown), and the first's time.

        An unknown message may have been delivered, so it counts against a quota.
        """
        count, first = self.db.execute(
            "SELECT count(*), MIN(COALESCE(sent_at, tried_at)) FROM messages"
            " WHERE state IN (?, ?, ?) AND COALESCE(sent_at, tried_at) > ?",
            (SENT, UNKNOWN, SENDING, since.astimezone(UTC).isoformat()),
        ).fetchone()
        return int(count), first

    def pause(self, transport: str, until: datetime, reason: str) -> None:
        """Send nothing more through `transport` before `until` (a quota or a rate limit)."""
        self.db.execute(
            "INSERT OR REPLACE INTO pauses VALUES (?, ?, ?)",
            (transport, until.astimezone(UTC).isoformat(), reason),
        )

    def resume(self) -> list[tuple[str, datetime, str]]:
        """Lift every pause; returns (transport, until, why) of those lifted."""
        rows = self.db.execute("DELETE FROM pauses RETURNING transport, until, reason").fetchall()
        return [(transport, datetime.fromisoformat(until), why) for transport, until, why in rows]

    def paused(self, transport: str) -> tuple[datetime, str] | None:
        """(until, why) of the latest pause of `transport`, if any was recorded."""
        row = self.db.execute(
            "SELECT until, reason FROM pauses WHERE transport = ?", (transport,)
        ).fetchone()
        return (datetime.fromisoformat(row[0]), row[1]) if row else None

    def requeue_unknown(
        self,
        tried_before: datetime | None = None,
        bulk: bool = True,
        except_events: Sequence[str] = (),
        tried_once: bool = False,
    ) -> int:
        """Unknown messages go back in the queue: all, or those tried before a moment,
        without bulk mail, without those about some events, or only those tried once."""
        query = "UPDATE messages SET state = ?, reason = '' WHERE state = ?"
        args: tuple[object, ...] = (PENDING, UNKNOWN)
        if tried_before is not None:
            query += " AND COALESCE(tried_at, created_at) < ?"
            args += (tried_before.astimezone(UTC).isoformat(),)
        if not bulk:
            query += " AND priority = 0"
        if tried_once:
            query += " AND attempts <= 1"
        if except_events:
            query += f" AND event_id NOT IN ({','.join('?' * len(except_events))})"
            args += tuple(except_events)
        with self.transaction() as db:
            return db.execute(query, args).rowcount

    def waiting(self) -> list[tuple[int, int]]:
        """(priority, how many) of the messages queued to send, most urgent first."""
        rows = self.db.execute(
            "SELECT priority, count(*) FROM messages WHERE state IN (?, ?)"
            " GROUP BY priority ORDER BY priority",
            (PENDING, RETRY),
        )
        return [(p, n) for p, n in rows]

    def retry_failed(self) -> int:
        """Put failed messages back in the queue (`mailer retry`).

        Asking for a retry overrides a hard bounce: those addresses leave the
        suppression list, so an address that was fixed gets its email.
        """
        with self.transaction() as db:
            db.execute(
                "DELETE FROM suppressions WHERE reason = ? AND email IN"
                " (SELECT email FROM messages WHERE state = ?)",
                (BOUNCE, FAILED),
            )
            return db.execute(
                "UPDATE messages SET state = ? WHERE state = ?",
                (PENDING, FAILED),
            ).rowcount

    def last_sent(self) -> dict[tuple[str, str], str]:
        """(event, email) -> when the last email to that person about that event went."""
        rows = self.db.execute(
            "SELECT event_id, email, MAX(sent_at) FROM messages WHERE state = ?"
            " GROUP BY event_id, email",
            (SENT,),
        )
        return {(event_id, email): sent_at for event_id, email, sent_at in rows}

    def failures(self) -> dict[tuple[str, str], str]:
        """(event, email) -> why the latest failed message to that person about it failed.

        Redacted, as it goes into the sheet: a server may have echoed an address.
        """
        rows = self.db.execute(
            "SELECT event_id, email, reason FROM messages WHERE state = ? ORDER BY created_at",
            (FAILED,),
        )
        return {(event_id, email): redact(reason) for event_id, email, reason in rows}

    def seats(self) -> list[SeatRow]:
        rows = self.db.execute(
            "SELECT event_id, email, status, position, row, address, name, written, language"
            " FROM seats"
            " ORDER BY event_id, rowid"
        )
        return [SeatRow(*r) for r in rows]

    def stored_events(self) -> dict[str, StoredEvent]:
        rows = self.db.execute(
            "SELECT id, title, label, starts_at, ends_at, timezone, capacity, join_url,"
            " signup_url, status, sequence, missing, titles FROM events ORDER BY starts_at, id"
        )
        stored = {}
        for row in rows:
            event_id, title, label, starts, ends, zone, capacity, join, signup, status, seq = row[
                :11
            ]
            event = Event(
                id=event_id,
                title=title,
                label=label,
                starts_at=datetime.fromisoformat(starts).astimezone(ZoneInfo(zone)),
                ends_at=datetime.fromisoformat(ends).astimezone(ZoneInfo(zone)),
                timezone=zone,
                capacity=capacity,
                join_url=join,
                signup_url=signup,
                status=status,
                titles=tuple(sorted(json.loads(row[12] or "{}").items())),
            )
            stored[event_id] = StoredEvent(event, seq, missing=bool(row[11]))
        return stored

    def message_keys(self, kind: str) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM messages WHERE kind = ?", (kind,))}

    def sent_at(self, kinds: Sequence[str]) -> dict[tuple[str, str, str], str]:
        """(kind, event, email) -> when the latest message of that kind was decided."""
        marks = ",".join("?" * len(kinds))
        rows = self.db.execute(
            f"SELECT kind, event_id, email, MAX(created_at) FROM messages WHERE kind IN ({marks})"
            " GROUP BY kind, event_id, email",
            tuple(kinds),
        )
        return {(kind, event_id, email): at for kind, event_id, email, at in rows}

    def messages(
        self, states: Sequence[str] = (SENT, PENDING, RETRY, FAILED, UNKNOWN)
    ) -> list[MessageRow]:
        marks = ",".join("?" * len(states))
        rows = self.db.execute(
            "SELECT key, kind, event_id, email, state, reason, attempts, created_at, sent_at,"
            f" provider_id FROM messages WHERE state IN ({marks}) ORDER BY created_at, key",
            tuple(states),
        )
        return [MessageRow(*r) for r in rows]

    def suppressed(self, reason: str | None = None) -> dict[str, str]:
        """Suppressed address -> when (its first suppression), for every reason or one."""
        query = "SELECT email, MIN(created_at) FROM suppressions"
        rows = self.db.execute(
            *(
                (query + " GROUP BY email",)
                if reason is None
                else (query + " WHERE reason = ? GROUP BY email", (reason,))
            )
        )
        return dict(rows)

    def digest_history(self, job: str) -> list[tuple[str, list[str]]]:
        """(slot, resource keys held) for each digest this job decided, oldest first."""
        rows = self.db.execute("SELECT slot, held FROM digests WHERE job = ? ORDER BY slot", (job,))
        return [(slot, json.loads(held)) for slot, held in rows]

    def record_digest(
        self,
        job: str,
        slot: str,
        held: Sequence[str],
        drafts: Iterable[Draft],
        now: datetime,
    ) -> int:
        """Commit a slot's digest and its messages (streamed) at once."""
        with self.transaction() as db:
            recipients = self._insert_drafts(db, drafts)
            db.execute(
                "INSERT INTO digests VALUES (?, ?, ?, ?, ?)",
                (job, slot, json.dumps(list(held)), recipients, now.astimezone(UTC).isoformat()),
            )
            return recipients

    def has_tokens(self) -> bool:
        """Whether any (HMAC token, address) pair is kept (none in a new or rebuilt ledger)."""
        return self.db.execute("SELECT 1 FROM unsubscribe_tokens LIMIT 1").fetchone() is not None

    def remember_tokens(self, tokens: Iterable[tuple[str, str]]) -> None:
        """Keep (HMAC token, address) pairs, so links of that older format are answered."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO unsubscribe_tokens VALUES (?, ?)", tokens)

    def email_for_token(self, token: str) -> str | None:
        row = self.db.execute(
            "SELECT email FROM unsubscribe_tokens WHERE token = ?", (token,)
        ).fetchone()
        return row[0] if row else None

    def unsuppress(self, email: str) -> list[str]:
        """Lift every suppression of an address; returns the reasons it had."""
        with self.transaction() as db:
            reasons = [
                r
                for (r,) in db.execute("SELECT reason FROM suppressions WHERE email = ?", (email,))
            ]
            db.execute("DELETE FROM suppressions WHERE email = ?", (email,))
        return reasons

    def suppress(self, email: str, reason: str, now: datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO suppressions VALUES (?, ?, ?)",
            (email.casefold(), reason, now.astimezone(UTC).isoformat()),
        )

    def index_seat_tokens(self, secret: str) -> int:
        """Store the lookup of every seat's links not yet indexed under this secret; how many."""
        unindexed = self.db.execute(
            "SELECT event_id, email FROM seats AS s WHERE NOT EXISTS (SELECT 1 FROM seat_tokens"
            " AS t WHERE t.event_id = s.event_id AND t.email = s.email AND t.signer = ?)",
            (self_service.signer_id(secret),),
        ).fetchall()
        if unindexed:
            with self.transaction() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO seat_tokens VALUES (?, ?, ?, ?, ?)",
                    self_service.seat_lookups(secret, unindexed),
                )
        return len(unindexed)

    def seat_for_token(self, secret: str, token: str) -> SeatRef | None:
        """The seat and action a genuine token stands for: one indexed query, then its signature."""
        row = self.db.execute(
            "SELECT action, event_id, email FROM seat_tokens WHERE lookup = ?",
            (self_service.token_lookup(token),),
        ).fetchone()
        if row is None:
            return None
        ref = SeatRef(*row)
        return ref if self_service.genuine_for(secret, token, ref) else None

    def seat(self, event_id: str, email: str) -> SeatRow | None:
        row = self.db.execute(
            "SELECT event_id, email, status, position, row, address, name, written, language"
            " FROM seats"
            " WHERE event_id = ? AND email = ?",
            (event_id, email),
        ).fetchone()
        return SeatRow(*row) if row else None

    def add_request(
        self, token: str, seat: SeatRef, at: datetime, source: str, again: bool = True
    ) -> bool:
        """Keep a person's answer until a run acts on it; False if this token was seen before.

        With `again`, a token acted on before is taken again for an answer given
        after that run (a released seat an organizer confirmed again can be
        released again); the same answer read twice, or an older one, changes nothing.
        """
        return bool(
            self.db.execute(
                "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (token)"
                " DO UPDATE SET at = excluded.at, source = excluded.source, applied_at = NULL"
                " WHERE ? AND requests.applied_at IS NOT NULL"
                " AND excluded.at > requests.applied_at",
                (
                    token,
                    seat.event_id,
                    seat.email,
                    seat.action,
                    at.astimezone(UTC).isoformat(),
                    source,
                    again,
                ),
            ).rowcount
        )

    def has_open_request(self, token: str) -> bool:
        """An answer with this token waits for the next run."""
        query = "SELECT 1 FROM requests WHERE token = ? AND applied_at IS NULL"
        return self.db.execute(query, (token,)).fetchone() is not None

    def open_requests(self) -> list[Request]:
        """Answers no run has acted on yet, oldest first."""
        rows = self.db.execute(
            "SELECT token, kind, event_id, email, at FROM requests WHERE applied_at IS NULL"
            " ORDER BY at, token"
        )
        return [Request(t, k, e, m, datetime.fromisoformat(a)) for t, k, e, m, a in rows]

    def released(self) -> dict[tuple[str, str], datetime]:
        """(event, email) -> when the person gave up their place, for releases acted on."""
        rows = self.db.execute(
            "SELECT event_id, email, MAX(at) FROM requests WHERE kind = ?"
            " AND applied_at IS NOT NULL GROUP BY event_id, email",
            (RELEASE,),
        )
        return {(e, m): datetime.fromisoformat(a) for e, m, a in rows}


# What `state_token` reads: each table whole where it stays small or is the roster, and
# in sums where it grows with every message, digest and token sent.
STATE_QUERIES = (
    "SELECT group_concat(x, char(30)) FROM (SELECT id || char(31) || title || char(31) || label"
    " || char(31) || starts_at || char(31) || ends_at || char(31) || timezone || char(31) ||"
    " capacity || char(31) || join_url || char(31) || signup_url || char(31) || status ||"
    " char(31) || sequence || char(31) || missing || char(31) || titles AS x FROM events"
    " ORDER BY id)",
    "SELECT group_concat(x, char(30)) FROM (SELECT event_id || char(31) || email || char(31) ||"
    " status || char(31) || ifnull(position, '') || char(31) || row || char(31) || address ||"
    " char(31) || name || char(31) || written || char(31) || language AS x FROM seats"
    " ORDER BY event_id, email)",
    "SELECT group_concat(x, char(30)) FROM (SELECT stamp || char(31) || email || char(31) ||"
    " event_id AS x FROM bindings ORDER BY stamp, email)",
    "SELECT group_concat(x, char(30)) FROM (SELECT name || char(31) || event_id AS x"
    " FROM event_names ORDER BY name)",
    "SELECT group_concat(x, char(30)) FROM (SELECT sheet_id || char(31) || event_id AS x"
    " FROM aliases ORDER BY sheet_id)",
    "SELECT group_concat(x, char(30)) FROM (SELECT form || char(31) || options || char(31) ||"
    " accepting AS x FROM forms ORDER BY form)",
    "SELECT count(*), max(added_at) FROM series_events",
    "SELECT group_concat(x, char(30)) FROM (SELECT token || char(31) || event_id || char(31) ||"
    " email || char(31) || kind || char(31) || at || char(31) || source || char(31) ||"
    " ifnull(applied_at, '') AS x FROM requests ORDER BY token)",
    "SELECT group_concat(x, char(30)) FROM (SELECT transport || char(31) || until || char(31)"
    " || reason AS x FROM pauses ORDER BY transport)",
    "SELECT group_concat(x, char(30)) FROM (SELECT state || char(31) || count(*) || char(31) ||"
    " max(rowid) || char(31) || ifnull(max(sent_at), '') || char(31) || ifnull(max(tried_at), '')"
    " || char(31) || sum(attempts) || char(31) || sum(length(reason)) || char(31) ||"
    " sum(length(provider_id)) AS x FROM messages GROUP BY state ORDER BY state)",
    "SELECT group_concat(x, char(30)) FROM (SELECT reason || char(31) || count(*) || char(31) ||"
    " max(created_at) || char(31) || sum(length(email)) AS x FROM suppressions GROUP BY reason"
    " ORDER BY reason)",
    "SELECT count(*), max(rowid) FROM seat_tokens",
    "SELECT count(*), max(rowid) FROM unsubscribe_tokens",
    "SELECT count(*), max(decided_at) FROM digests",
)


@contextmanager
def locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold the run lock beside the ledger; wait up to `timeout` seconds for another run."""
    lock_path = Path(path).with_suffix(".lock")
    private_folder(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another mailer run holds {lock_path}; it is still running after "
                        f"{timeout:g}s (try again later)"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


__all__ = [
    "BOUNCE",
    "FAILED",
    "PENDING",
    "RETRY",
    "SENDING",
    "SENT",
    "SKIPPED",
    "UNKNOWN",
    "Ledger",
    "locked",
]
