"""Every write and query the ledger makes, written once as plain SQL for SQLite and PostgreSQL.

A `Backend` (mailer.ledger.connection) supplies connections that take that
SQL with `:named` parameters (the stdlib sqlite3 on SQLite, SQLAlchemy Core
and psycopg on PostgreSQL), the run lock and the few things the two
databases do differently; INSERTs are written from the tables' description
(mailer.ledger.statements), so a SQLite ledger never imports SQLAlchemy.
Timestamps are ISO 8601 strings in UTC, so they compare as text the same way
on both; a claim's lease is a number of seconds since the epoch.

A run decides and commits the seats and pending messages in one transaction,
then claims each message (`sending`, with its holder and a lease) before the
transport gets it and marks it as it goes. A claim whose holder is gone
becomes `unknown`, never sent again blindly.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from itertools import chain
from json.encoder import encode_basestring
from typing import Any

import mailer.ledger.statements as statements
from mailer.core.batches import batches
from mailer.core.errors import LedgerError
from mailer.core.redact import redact
from mailer.ledger.connection import Backend, Connection, Named, Params
from mailer.ledger.migrations import SCHEMA_VERSION, STEPS
from mailer.ledger.reads import PlainReads, named_marks
from mailer.ledger.records import (
    BOUNCE,
    CHUNK,
    DEFAULT_LEASE,
    FAILED,
    PENDING,
    RETRY,
    SENDING,
    SENT,
    UNKNOWN,
    BounceRow,
    Decisions,
    SeatRow,
)
from mailer.ledger.tables import BY_NAME
from mailer.mail.message import Body, Draft, OutgoingMessage, SendResult, priority
from mailer.rules import self_service
from mailer.rules.binding import Memory
from mailer.rules.roster import Previous
from mailer.rules.self_service import RELEASE, Request, SeatRef
from mailer.sessions import StoredEvent

CLAIM_PAGE = 50  # messages one process claims at a time from a shared ledger
READ_WINDOW = 1000  # queued messages read at once from a ledger one process sends from


# A message this process may claim: queued, or claimed with its page and not handed over.
_FREE = "(state IN (:p, :r) OR (state = :s AND holder = :h AND tried_at IS NULL))"
_MARK = (
    "UPDATE messages SET state = :state, provider_id = :pid, reason = :reason,"
    " attempts = attempts + 1, lease_until = NULL,"
    " sent_at = CASE WHEN :state = 'sent' THEN :at ELSE sent_at END"
    " WHERE key = :key"
)
# An unknown outcome never overwrites what the provider's webhook settled meanwhile.
_MARK_UNKNOWN = _MARK + " AND state = 'sending'"
_SUPPRESS_BOUNCED = (
    "INSERT INTO suppressions (email, reason, created_at)"
    " SELECT email, :reason, :at FROM messages WHERE key = :key"
    " ON CONFLICT DO NOTHING"
)
# A person's answer, kept once; again (with `_ANSWER_AGAIN`) if given after a run acted on it.
_ANSWER = statements.insert("requests", ("token", "event_id", "email", "kind", "at", "source")) + (
    " ON CONFLICT (token) DO UPDATE SET at = excluded.at, source = excluded.source,"
    " applied_at = NULL WHERE {} RETURNING token"
)
_ANSWER_AGAIN = _ANSWER.format(
    "requests.applied_at IS NOT NULL AND excluded.at > requests.applied_at"
)
_ANSWER_ONCE = _ANSWER.format("false")


# A message's columns as a run decides it; the rest keep their defaults.
MESSAGE_COLUMNS = (
    "key",
    "kind",
    "event_id",
    "email",
    "state",
    "body_id",
    "envelope",
    "created_at",
    "priority",
)
OWN_COLUMNS = ("key", "email", "envelope")  # what differs between a digest's messages
INSERT_BATCH = 1_000  # rows per INSERT of a stream (messages, tokens)
_envelope_json = json.JSONEncoder(ensure_ascii=False).encode  # as json.dumps(ensure_ascii=False)


def _envelope(draft: Draft, shapes: dict[tuple[str, ...], tuple[str, str]]) -> str:
    """The envelope as json.dumps(ensure_ascii=False) writes it, filled in by hand when all is text.

    `shapes` keeps the envelope's frames for each set of person fields: one
    digest's 100,000 envelopes share them. Values with nothing JSON escapes
    (no quote, backslash or control character: most) go in as they are.
    """
    try:
        values = (draft.to_email, draft.to_name, *draft.person.values())
        shape = _shape(tuple(draft.person), shapes)
        if _plain("".join(values)):
            return shape[1] % values
        return shape[0] % tuple(map(encode_basestring, values))
    except TypeError:  # a value that is not text: the encoder says how
        envelope = {"to": draft.to_email, "name": draft.to_name, "person": dict(draft.person)}
        return _envelope_json(envelope)


def _envelopes(
    drafts: Sequence[Draft], shapes: dict[tuple[str, ...], tuple[str, str]]
) -> list[str]:
    """Each draft's envelope, as _envelope makes it.

    A batch under the same person fields whose values are all plain text (a
    digest's, most often) is checked once, as one string, and filled in at once.
    """
    keys = tuple(drafts[0].person)
    try:
        values = [(d.to_email, d.to_name, *d.person.values()) for d in drafts]
        if _plain("".join(chain.from_iterable(values))) and all(
            tuple(d.person) == keys for d in drafts
        ):
            plain = _shape(keys, shapes)[1]
            return [plain % each for each in values]
    except TypeError:  # a value that is not text: _envelope has the encoder say how
        pass
    return [_envelope(d, shapes) for d in drafts]


def _shape(
    keys: tuple[str, ...], shapes: dict[tuple[str, ...], tuple[str, str]]
) -> tuple[str, str]:
    """An envelope's frames for these person fields: for quoted values, and for plain ones."""
    shape = shapes.get(keys)
    if shape is None:
        names = [encode_basestring(k).replace("%", "%%") for k in keys]
        fields, plain = (", ".join(f"{n}: {v}" for n in names) for v in ("%s", '"%s"'))
        shape = shapes[keys] = (
            f'{{"to": %s, "name": %s, "person": {{{fields}}}}}',
            f'{{"to": "%s", "name": "%s", "person": {{{plain}}}}}',
        )
    return shape


def _plain(text: str) -> bool:
    """Nothing in `text` that JSON escapes (quote, backslash, control character), cautiously.

    ASCII text (most, and str knows it without a scan) is searched for each
    such character in turn, each search at memchr's speed: seven times faster
    than isprintable's walk through a batch's 330 kB, and the same answer
    (DEL, which isprintable refuses, is refused here too).
    """
    if text.isascii():
        return not any(escaped in text for escaped in _NOT_PLAIN_ASCII)
    return text.isprintable() and '"' not in text and "\\" not in text


_NOT_PLAIN_ASCII = (*map(chr, range(32)), '"', "\\", "\x7f")


def _shared_columns(draft: Draft, priorities: dict[str, int]) -> dict[str, object]:
    """A message's columns that a batch of its digest's messages share, as the ledger keeps them."""
    if draft.kind not in priorities:
        priorities[draft.kind] = priority(draft.kind)
    return {
        "kind": draft.kind,
        "event_id": draft.event_id,
        "state": PENDING,
        "body_id": draft.body.id,
        "created_at": draft.created_at.isoformat(),
        "priority": priorities[draft.kind],
    }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _insert_new(
    db: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> int:
    """Insert rows (tuples, in `columns` order) whose key is not there yet; how many were new.

    One statement for the batch, handed to the driver as it is: no per-row
    work in between, for the tens of thousands of rows a large digest records.
    """
    if not rows:
        return 0
    keys = ", ".join(BY_NAME[table].key)
    statement = (
        f"{db.insert_verb} INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join([db.mark] * len(columns))}) ON CONFLICT ({keys}) DO NOTHING"
    )
    return db.run_marked(statement, rows, many=True)


def _insert_sharing(
    db: Connection,
    table: str,
    shared: dict[str, object],
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
) -> int:
    """_insert_new for rows that share some columns' values: those are bound once, not per row.

    One statement of the whole batch (a VALUES list), the same text for every
    full batch, so the driver prepares it once.
    """
    if not rows:
        return 0
    mark = db.mark
    keys = ", ".join(BY_NAME[table].key)
    picked = [f"v.column{n + 1}" for n in range(len(columns))] + [mark] * len(shared)
    row_marks = f"({', '.join([mark] * len(columns))})"
    statement = (
        f"{db.insert_verb} INTO {table} ({', '.join([*columns, *shared])})"
        f" SELECT {', '.join(picked)} FROM (VALUES {', '.join([row_marks] * len(rows))}) AS v"
        f" WHERE true ON CONFLICT ({keys}) DO NOTHING"  # WHERE: so SQLite reads ON as the upsert's
    )
    values = (*shared.values(), *chain.from_iterable(rows))
    return db.run_marked(statement, values)


def store_of(ledger: object) -> SqlLedger:
    """The store under a ledger `open_ledger` opened (a SqliteLedger opens its own)."""
    store = getattr(ledger, "store", None)
    if not isinstance(store, SqlLedger):
        raise TypeError("this needs a ledger that open_ledger opened")
    return store


class SqlLedger(PlainReads):
    """The ledger on one backend: roster, message queue, suppressions, tokens, requests, runs."""

    def __init__(
        self,
        backend: Backend,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], float] = time.time,
    ):
        self.backend = backend
        self.where = backend.where
        self.lease = lease
        self.clock = clock  # wall time for leases only: a claim outlives no process by much
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._local = threading.local()  # the transaction this thread has open, if any
        try:
            self._migrate()
        except BaseException:
            backend.close()
            raise

    @property
    def store(self) -> SqlLedger:
        """The ledger that writes: this one (a SqliteLedger's opens when first asked)."""
        return self

    # -- schema -------------------------------------------------------------

    def _migrate(self) -> None:
        """Create a new ledger or bring an older one up to date; safe with others starting too."""
        with self._read() as db:
            current = self.backend.schema_version(db)
            if current == SCHEMA_VERSION and self.backend.counts_changes(db):
                return  # written by this version: every table is there (set after creating them)
            new = not self.backend.has_table(db, "messages")
        self._refuse_newer(current, new)
        with self.transaction() as db:
            self.backend.hold_for_migration(db)
            # Another process may have migrated it while this one waited.
            current = self.backend.schema_version(db)
            new = not self.backend.has_table(db, "messages")
            self._refuse_newer(current, new)
            if new or current != SCHEMA_VERSION:
                self._bring_up(db, current, new)
            self.backend.count_changes(db)

    def _bring_up(self, db: Connection, current: int, new: bool) -> None:
        """The steps after `current`, then every table and index not there yet (all, if `new`)."""
        self.backend.stop_counting(db)  # made again after the steps, for the tables they leave
        if not new:
            for step in STEPS:
                if step.version > current:
                    for statement in step.statements:
                        db.run(statement)
        for statement in self.backend.creation():  # IF NOT EXISTS: those missing only
            db.run(statement)
        self.backend.set_schema_version(db, SCHEMA_VERSION)

    def _refuse_newer(self, version: int, new: bool) -> None:
        if not new and version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.where} holds ledger schema {version}; this mailer knows up to "
                f"{SCHEMA_VERSION}. Keep the ledger and run the mailer version that "
                "wrote it."
            )

    def schema_version(self) -> int:
        with self._read() as db:
            return self.backend.schema_version(db)

    # -- connections --------------------------------------------------------

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> SqlLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection to read with, in a read transaction: this thread's, if one is open."""
        current: Connection | None = getattr(self._local, "db", None)
        if current is not None:
            yield current
            return
        held: Connection | None = getattr(self._local, "held", None)
        if held is not None and held.in_transaction:  # one_connection(): a read open on it
            yield held
            return
        # one_connection()'s own, so no second connection keeps a page cache; or one of its own
        db = held if held is not None else self.backend.connect()
        try:
            db.begin(write=False)
            yield db
        finally:
            db.rollback()
            if held is None:
                db.close()

    def reading(self) -> AbstractContextManager[Connection]:
        """A read transaction: what it reads is one state of the ledger (`mailer migrate`)."""
        return self._read()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (on SQLite it takes the write lock at once).

        Every ledger call this thread makes inside it joins it, so several calls
        commit together or not at all.
        """
        current: Connection | None = getattr(self._local, "db", None)
        if current is not None:
            yield current
            return
        held: Connection | None = getattr(self._local, "held", None)
        if held is not None and held.in_transaction:  # a read open on it: one of its own
            held = None
        db = held if held is not None else self.backend.connect()
        try:
            db.begin(write=True)
            self._local.db = db
            try:
                yield db
            finally:
                self._local.db = None
            db.commit()
        finally:
            db.rollback()  # what an error left open
            if held is None:
                db.close()

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Transactions and reads this thread makes inside share one connection, taken once.

        The send loop commits once a message: a connection checked out and
        returned (and on PostgreSQL pinged) for each was a third of that commit's
        cost. Its reads use it too, so no second connection keeps a page cache.
        """
        if getattr(self._local, "held", None) is not None:
            yield
            return
        held = self.backend.connect()
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = None
            held.close()

    def select(self, query: str, **params: object) -> list[Any]:
        return self._rows(query, **params)

    def _rows(self, query: str, **params: object) -> list[Any]:
        with self._read() as db:
            return db.rows(query, params)

    def _write(self, query: str, params: Params) -> int:
        with self.transaction() as db:
            return db.run(query, params)

    @staticmethod
    def _ignore(db: Connection, table: str, rows: Iterable[Named]) -> None:
        """Insert rows (each with the same columns) whose key is not there yet; leave the rest."""
        for chunk in batches(rows, CHUNK):
            db.run(statements.insert_new(table, tuple(chunk[0])), chunk)

    @staticmethod
    def _replace(db: Connection, table: str, rows: Sequence[Named]) -> None:
        """Insert rows (each with the same columns), or overwrite the row that has the same key."""
        for chunk in batches(rows, CHUNK):
            db.run(statements.replace(table, tuple(chunk[0])), chunk)

    # -- the run lock -------------------------------------------------------

    def run_lock(self, timeout: float) -> AbstractContextManager[None]:
        """One deciding run at a time; wait up to `timeout` seconds, then LockedError."""
        return self.backend.run_lock(timeout)

    @property
    def shared(self) -> bool:
        return self.backend.shared

    # -- the roster ---------------------------------------------------------

    def previous(self, event_id: str) -> Previous:
        with self._read() as db:
            seats = db.rows(
                "SELECT email, status, written, row FROM seats WHERE event_id = :e", {"e": event_id}
            )
            notified: set[tuple[str, str]] = set()
            query = "SELECT kind, email, key FROM messages WHERE event_id = :e"
            for kind, email, key in db.rows(query, {"e": event_id}):
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
        with self._read() as db:
            bindings = {
                (stamp, email): event_id
                for stamp, email, event_id in db.rows("SELECT stamp, email, event_id FROM bindings")
            }
            names = {n: e for n, e in db.rows("SELECT name, event_id FROM event_names")}
            aliases = {s: e for s, e in db.rows("SELECT sheet_id, event_id FROM aliases")}
            known = frozenset(i for (i,) in db.rows("SELECT id FROM events"))
        return Memory(bindings, names, aliases, known)

    def record(self, decided: Decisions) -> int:
        """Commit events, every seat of those events, their messages and bindings at once.

        Returns how many messages were new.
        """
        with self.transaction() as db:
            self._replace(db, "events", [self._event_row(s) for s in decided.events])
            self._record_seats(db, [s.event.id for s in decided.events], decided.seats)
            self._ignore(
                db,
                "bindings",
                ({"stamp": s, "email": m, "event_id": e} for s, m, e in decided.bindings),
            )
            self._replace(db, "event_names", [{"name": n, "event_id": e} for n, e in decided.names])
            self._replace(
                db, "aliases", [{"sheet_id": s, "event_id": e} for s, e in decided.aliases]
            )
            if decided.missing:
                db.run(
                    "UPDATE events SET missing = 1 WHERE id = :id",
                    [{"id": i} for i in decided.missing],
                )
            if decided.applied:
                db.run(
                    "UPDATE requests SET applied_at = :at"
                    " WHERE token = :token AND applied_at IS NULL",
                    [{"at": _utc(at), "token": token} for token, at in decided.applied],
                )
            self._ignore(
                db,
                "messages",
                [
                    {
                        "key": a.key,
                        "kind": a.kind,
                        "event_id": a.event_id,
                        "email": a.email,
                        "state": SENT,
                        "body_id": "",
                        "envelope": "{}",
                        "reason": "adopted from the sheet's Notified column",
                        "created_at": _utc(a.at),
                        "sent_at": _utc(a.at),
                    }
                    for a in decided.adopted
                ],
            )
            return self._insert_drafts(db, decided.drafts)

    @staticmethod
    def _record_seats(db: Connection, event_ids: list[str], seats: Sequence[SeatRow]) -> None:
        """Every seat of these events as decided, written only for the events whose seats changed.

        A changed event's seats are written again whole, in the plan's order, as
        `seats()` lists them; an event whose seats are as they were is not touched.
        """
        columns = (
            "event_id",
            "email",
            "status",
            "position",
            "row",
            "address",
            "name",
            "written",
            "language",
        )
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
        query = f"SELECT {', '.join(columns)} FROM seats ORDER BY event_id, place"
        for found in db.rows(query):
            if found[0] in wanted:
                held.setdefault(found[0], []).append(tuple(found))
        changed = [event_id for event_id, rows in wanted.items() if held.get(event_id, []) != rows]
        for chunk in batches(changed, CHUNK):
            marks, values = named_marks("e", chunk)
            db.run(f"DELETE FROM seats WHERE event_id IN ({marks})", values)
        rows = (  # made chunk by chunk: 10,000 seats' dicts at once weigh MBs
            {**dict(zip(columns, row, strict=True)), "place": place}
            for event_id in changed
            for place, row in enumerate(wanted[event_id])
        )
        for batch in batches(rows, CHUNK):
            db.run(statements.insert("seats", (*columns, "place")), batch)

    def state_token(self) -> str:
        """What every job reads of the ledger, digested: equal tokens, the same ledger to decide on.

        Equal whenever nothing was written since, or only what was there already;
        any decision, message, send, suppression, request or pause changes it.
        """
        with self._read() as db:
            return self.backend.state_token(db)

    def set_fingerprint(self, job: str, digest: str | None, report: str = "") -> None:
        """Keep (or, with None, forget) the fingerprint of a run of `job` that changed nothing."""
        with self.transaction() as db:
            db.run("DELETE FROM fingerprints WHERE job = :j", {"j": job})
            if digest is not None:
                row = {"job": job, "digest": digest, "report": report}
                db.run(statements.insert("fingerprints", tuple(row)), row)

    @staticmethod
    def _event_row(stored: StoredEvent) -> dict[str, object]:
        e = stored.event
        return {
            "id": e.id,
            "title": e.title,
            "label": e.label,
            "starts_at": e.starts_at.isoformat(),
            "ends_at": e.ends_at.isoformat(),
            "timezone": e.timezone,
            "capacity": e.capacity,
            "join_url": e.join_url,
            "signup_url": e.signup_url,
            "status": e.status,
            "sequence": stored.sequence,
            "missing": 0,
            "titles": json.dumps(dict(e.titles), ensure_ascii=False, sort_keys=True),
        }

    def form_pushed(self, form: str) -> tuple[tuple[str, ...], bool] | None:
        """The choices and open/closed state mailer last gave this form, if any."""
        rows = self._rows("SELECT options, accepting FROM forms WHERE form = :f", f=form)
        return None if not rows else (tuple(json.loads(rows[0][0])), bool(rows[0][1]))

    def set_form_pushed(self, form: str, options: Sequence[str], accepting: bool) -> None:
        row = {
            "form": form,
            "options": json.dumps(list(options), ensure_ascii=False),
            "accepting": int(accepting),
        }
        with self.transaction() as db:
            self._replace(db, "forms", [row])

    def series_events(self) -> set[str]:
        """Ids of the Events rows mailer added for a series (never added twice)."""
        return {i for (i,) in self._rows("SELECT event_id FROM series_events")}

    def add_series_events(self, added: Iterable[tuple[str, str]], now: datetime) -> None:
        at = _utc(now)
        rows: list[dict[str, object]] = [
            {"event_id": e, "series": s, "added_at": at} for e, s in added
        ]
        with self.transaction() as db:
            self._ignore(db, "series_events", rows)

    def set_written(self, cells: Iterable[tuple[str, str, str]]) -> None:
        """Remember what now stands in each (event, email)'s Status cell, as mailer wrote it."""
        query = "UPDATE seats SET written = :status WHERE event_id = :e AND email = :m"
        with self.transaction() as db:
            # A batch at a time: a first run's 10,000 rows' dicts at once weigh MBs.
            for chunk in batches(cells, CHUNK):
                db.run(query, [{"status": s, "e": e, "m": m} for e, m, s in chunk])

    # -- the message queue --------------------------------------------------

    def _insert_drafts(self, db: Connection, drafts: Iterable[Draft]) -> int:
        """Insert messages (and each body once) from a stream; returns how many were new.

        Rows go to the driver in batches of plain tuples, one statement per
        batch: a digest to 100,000 readers is 100,000 rows.
        """
        bodies: set[str] = set()
        new = 0
        created: tuple[datetime | None, str] = (None, "")
        priorities: dict[str, int] = {}
        shapes: dict[tuple[str, ...], tuple[str, str]] = {}
        for chunk in batches(drafts, INSERT_BATCH):
            fresh = [d.body for d in chunk if d.body.id not in bodies]
            bodies.update(b.id for b in fresh)
            self._ignore(
                db,
                "bodies",
                [{"id": b.id, "body": b.to_json()} for b in {b.id: b for b in fresh}.values()],
            )
            first = chunk[0]
            # What differs from message to message.
            rows = [
                (d.key, d.to_email.casefold(), envelope)
                for d, envelope in zip(chunk, _envelopes(chunk, shapes), strict=True)
            ]
            # Every message of the chunk has first's kind, session, body and time.
            body_id, created_at, kind, event_id = (
                first.body.id,
                first.created_at,
                first.kind,
                first.event_id,
            )
            alike = all(
                d.body.id == body_id
                and d.created_at is created_at
                and d.kind == kind
                and d.event_id == event_id
                for d in chunk
            )
            if alike:  # a digest's: what they share is bound once
                shared = _shared_columns(first, priorities)
                new += _insert_sharing(db, "messages", shared, OWN_COLUMNS, rows)
                continue
            full = []
            for d, (key, email, envelope) in zip(chunk, rows, strict=True):
                if d.kind not in priorities:
                    priorities[d.kind] = priority(d.kind)
                if created[0] is not d.created_at:
                    created = (d.created_at, d.created_at.isoformat())
                full.append(
                    (
                        key,
                        d.kind,
                        d.event_id,
                        email,
                        PENDING,
                        d.body.id,
                        envelope,
                        created[1],
                        priorities[d.kind],
                    )
                )
            new += _insert_new(db, "messages", MESSAGE_COLUMNS, full)
        return new

    def add(self, drafts: Iterable[Draft]) -> int:
        """Commit messages that decide no seat (reminders, digests); returns how many were new."""
        return self.record(Decisions(drafts=drafts))

    def due(self, batch: int = 500) -> Iterator[list[OutgoingMessage]]:
        """Messages decided but not delivered (new, or left by a pause or a 4xx), in batches.

        Time-critical mail comes before the digest (by priority); messages that
        share a body come next to each other, so a transport can send them
        together. Pages through the ledger so a large send never holds every
        message at once. On a shared ledger each page is claimed as it is read
        (FOR UPDATE SKIP LOCKED: rows another process is claiming are passed
        over), so processes reading at once get different pages; `claim` says
        which are this one's to send.
        """
        after: tuple[object, ...] = (-1, "", "", "")
        bodies: dict[str, Body] = {}
        if self.backend.shared:
            batch = min(batch, CLAIM_PAGE)
        while True:
            query = (
                "SELECT key, kind, event_id, envelope, created_at, body_id, priority"
                " FROM messages WHERE state IN (:p, :r)"
                " AND (priority, created_at, body_id, key) > (:a0, :a1, :a2, :a3)"
                " ORDER BY priority, created_at, body_id, key LIMIT :n"
            )
            params = {
                "p": PENDING,
                "r": RETRY,
                "a0": after[0],
                "a1": after[1],
                "a2": after[2],
                "a3": after[3],
                # Alone on the ledger, the queue is read in wider windows than it is handed
                # out in: each read sorts what is left of it, so reads are kept few.
                "n": batch if self.backend.shared else max(batch, READ_WINDOW),
            }
            if self.backend.shared:
                rows = self._claim_page(query + self.backend.lock_rows, params)
            else:
                rows = self._rows(query, **params)
            if not rows:
                return
            last = rows[-1]
            after = (last[6], last[4], last[5], last[0])
            needed = {r[5] for r in rows}
            bodies = {b: body for b, body in bodies.items() if b in needed}  # this window's only
            wanted = [b for b in needed if b not in bodies]
            with self._read() as db:
                for chunk in batches(wanted, CHUNK):
                    marks, values = named_marks("b", chunk)
                    found = f"SELECT id, body FROM bodies WHERE id IN ({marks})"
                    for body_id, body in db.rows(found, values):
                        bodies[body_id] = Body.from_json(body)
            for start in range(0, len(rows), batch):  # filled in (html, text) batch by batch
                yield [self._message(row, bodies) for row in rows[start : start + batch]]

    def _claim_page(self, query: str, params: dict[str, object]) -> list[Any]:
        """Rows no other process holds, now this one's (`sending`, not yet handed over)."""
        with self.transaction() as db:
            rows = db.rows(query, params)
            if rows:
                db.run(
                    "UPDATE messages SET state = :s, holder = :h, lease_until = :lease,"
                    " tried_at = NULL WHERE key = :key",
                    [
                        {
                            "s": SENDING,
                            "h": self.holder,
                            "lease": self.clock() + self.lease,
                            "key": r[0],
                        }
                        for r in rows
                    ],
                )
        return rows

    def release_claims(self) -> int:
        """Messages this process claimed and never handed over go back in the queue."""
        return self._write(
            "UPDATE messages SET state = :p, holder = '', lease_until = NULL"
            " WHERE state = :s AND holder = :h AND tried_at IS NULL",
            {"p": PENDING, "s": SENDING, "h": self.holder},
        )

    @staticmethod
    def _message(row: Sequence[Any], bodies: dict[str, Body]) -> OutgoingMessage:
        key, kind, event_id, envelope_json, created_at, body_id, _ = row
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
    ) -> tuple[dict[str, str], list[OutgoingMessage]]:
        """Just before a send: which messages to hold back, and which are this process's to send.

        Returns (key -> suppression reason, the messages claimed). A bounce holds
        back every kind; an unsubscribe or a spam report holds back the digest.
        Only messages still queued, or claimed by this process with its page
        and not handed over yet, are claimed, each row once: the rest were
        taken by another process and are not this one's. The claimed are committed as
        `sending` with this process as holder and a lease, in the same
        transaction as the suppression look-up, so a suppression written by
        `mailer serve` is either seen here or came after.
        """
        with self.transaction() as db:
            found = self._suppressions_among(db, [m.to_email for m in messages])
            kept_back: dict[str, str] = {}
            for m in messages:
                reason = found.get(m.to_email.casefold())
                if reason == BOUNCE or (reason and priority(m.kind) > 0):
                    kept_back[m.key] = reason
            wanted = [m.key for m in messages if m.key not in kept_back]
            taken = self._take(db, wanted, now) if mark_sending else self._free(db, wanted)
            held = {key: kept_back[key] for key in self._free(db, list(kept_back))}
        mine = [m for m in messages if m.key in taken]
        return held, mine

    def _free(self, db: Connection, keys: Sequence[str]) -> set[str]:
        """Of these keys, those still queued, or claimed by this process and not handed over."""
        free: set[str] = set()
        for chunk in batches(keys, CHUNK):
            marks, values = named_marks("k", chunk)
            query = (
                f"SELECT key FROM messages WHERE key IN ({marks}) AND {_FREE}"
                f"{self.backend.lock_own_rows}"
            )
            rows = db.rows(query, {**values, **self._free_params()})
            free.update(k for (k,) in rows)
        return free

    def _take(self, db: Connection, keys: Sequence[str], now: datetime) -> set[str]:
        """Of these keys, the free ones, committed as `sending` by this process with a lease."""
        taken: set[str] = set()
        for chunk in batches(keys, CHUNK):
            marks, values = named_marks("k", chunk)
            query = (
                "UPDATE messages SET state = :s, tried_at = :at, holder = :h,"
                f" lease_until = :lease WHERE key IN ({marks}) AND {_FREE} RETURNING key"
            )
            params = {**values, **self._free_params(), "at": _utc(now)}
            params["lease"] = self.clock() + self.lease
            taken.update(k for (k,) in db.rows(query, params))
        return taken

    def _free_params(self) -> dict[str, object]:
        return {"p": PENDING, "r": RETRY, "s": SENDING, "h": self.holder}

    def requeue_untried(self, keys: Iterable[str]) -> None:
        """Messages marked sending that the transport never took (a pause stopped it)."""
        rows: list[dict[str, object]] = [
            {"p": PENDING, "key": key, "s": SENDING, "h": self.holder} for key in keys
        ]
        if rows:
            self._write(
                "UPDATE messages SET state = :p, holder = '', lease_until = NULL"
                " WHERE key = :key AND state = :s AND holder = :h",
                rows,
            )

    def interrupted(self) -> int:
        """Claims whose holder is gone become unknown; returns how many.

        On a ledger one process sends from at a time (SQLite, under the run
        lock) every claim left is a killed run's. On a shared ledger a claim
        lapses when its lease runs out: its holder stopped renewing it; one its
        holder never handed to the transport simply goes back in the queue.
        """
        lapsed = ""
        params: dict[str, object] = {
            "u": UNKNOWN,
            "why": "the run stopped while handing it to the provider",
            "s": SENDING,
            "p": PENDING,
        }
        if self.backend.shared:
            lapsed = " AND holder <> :h AND (lease_until IS NULL OR lease_until < :t)"
            params.update(h=self.holder, t=self.clock())
        with self.transaction() as db:
            db.run(
                "UPDATE messages SET state = :p, holder = '', lease_until = NULL"
                " WHERE state = :s AND tried_at IS NULL" + lapsed,
                params,
            )
            return db.run(
                "UPDATE messages SET state = :u, reason = :why, attempts = attempts + 1,"
                " lease_until = NULL WHERE state = :s" + lapsed,
                params,
            )

    def mark(self, result: SendResult, now: datetime) -> None:
        """Store one message's outcome as it came; a hard bounce suppresses the address.

        An unknown outcome never overwrites what the provider's webhook settled meanwhile.
        """
        self.mark_all([result], now)

    def mark_all(self, results: Sequence[SendResult], now: datetime) -> None:
        """Store several outcomes in one transaction, as `mark` stores each."""
        if not results:
            return
        at = _utc(now)
        rows: dict[bool, list[dict[str, object]]] = {True: [], False: []}
        for result in results:
            rows[result.state == UNKNOWN].append(
                {
                    "state": result.state,
                    "pid": result.provider_id,
                    "reason": result.reason,
                    "at": at,
                    "key": result.key,
                }
            )
        bounced: list[dict[str, object]] = [
            {"reason": BOUNCE, "at": at, "key": r.key} for r in results if r.bounced
        ]
        with self.transaction() as db:
            for only_sending, params in rows.items():
                if params:
                    db.run(_MARK_UNKNOWN if only_sending else _MARK, params)
            if bounced:
                db.run(_SUPPRESS_BOUNCED, bounced)

    def fail(self, key: str, reason: str) -> None:
        """A message the provider took but could not deliver (a bounce it reported later)."""
        self._write(
            "UPDATE messages SET state = :f, reason = :r WHERE key = :k",
            {"f": FAILED, "r": reason, "k": key},
        )

    def settle_sent(self, key: str, now: datetime) -> bool:
        """The provider says it took this message: it counts as sent and is not sent again."""
        return bool(
            self._write(
                "UPDATE messages SET state = :sent, reason = '',"
                " sent_at = COALESCE(sent_at, tried_at, :at)"
                " WHERE key = :k AND state IN (:u, :s, :p, :r)",
                {
                    "sent": SENT,
                    "at": _utc(now),
                    "k": key,
                    "u": UNKNOWN,
                    "s": SENDING,
                    "p": PENDING,
                    "r": RETRY,
                },
            )
        )

    def requeue_unknown(
        self,
        tried_before: datetime | None = None,
        bulk: bool = True,
        except_events: Sequence[str] = (),
        tried_once: bool = False,
    ) -> int:
        """Unknown messages go back in the queue: all, or those tried before a moment,
        without bulk mail, without those about some events, or only those tried once."""
        query = "UPDATE messages SET state = :p, reason = '' WHERE state = :u"
        params: dict[str, object] = {"p": PENDING, "u": UNKNOWN}
        if tried_before is not None:
            query += " AND COALESCE(tried_at, created_at) < :before"
            params["before"] = _utc(tried_before)
        if not bulk:
            query += " AND priority = 0"
        if tried_once:
            query += " AND attempts <= 1"
        if except_events:
            marks, values = named_marks("e", except_events)
            query += f" AND event_id NOT IN ({marks})"
            params.update(values)
        return self._write(query, params)

    def retry_failed(self) -> int:
        """Put failed messages back in the queue (`mailer retry`).

        Asking for a retry overrides a hard bounce: those addresses leave the
        suppression list, so an address that was fixed gets its email.
        """
        with self.transaction() as db:
            db.run(
                "DELETE FROM suppressions WHERE reason = :b AND email IN"
                " (SELECT email FROM messages WHERE state = :f)",
                {"b": BOUNCE, "f": FAILED},
            )
            return db.run(
                "UPDATE messages SET state = :p WHERE state = :f", {"p": PENDING, "f": FAILED}
            )

    def last_sent(self) -> dict[tuple[str, str], str]:
        """(event, email) -> when the last email to that person about that event went."""
        query = (
            "SELECT event_id, email, MAX(sent_at) FROM messages WHERE state = :s"
            " GROUP BY event_id, email"
        )
        # Read a chunk at a time, each event's id and each moment held once: a run's sends
        # share one moment, and a first run's 10,000 rows are never held twice over.
        shared: dict[str, str] = {}
        last: dict[tuple[str, str], str] = {}
        with self._read() as db:
            for chunk in db.chunks(query, CHUNK, {"s": SENT}):
                for event_id, email, sent_at in chunk:
                    key = (shared.setdefault(event_id, event_id), email)
                    last[key] = shared.setdefault(sent_at, sent_at)
        return last

    def failures(self) -> dict[tuple[str, str], str]:
        """(event, email) -> why the latest failed message to that person about it failed.

        Redacted, as it goes into the sheet: a server may have echoed an address.
        """
        rows = self._rows(
            "SELECT event_id, email, reason FROM messages WHERE state = :f"
            " ORDER BY created_at, key",
            f=FAILED,
        )
        return {(event_id, email): redact(reason) for event_id, email, reason in rows}

    def message_keys(self, kind: str) -> set[str]:
        return {k for (k,) in self._rows("SELECT key FROM messages WHERE kind = :k", k=kind)}

    # -- pauses -------------------------------------------------------------

    def pause(self, transport: str, until: datetime, reason: str) -> None:
        """Send nothing more through `transport` before `until` (a quota or a rate limit)."""
        row = {"transport": transport, "until": _utc(until), "reason": reason}
        with self.transaction() as db:
            self._replace(db, "pauses", [row])

    def resume(self) -> list[tuple[str, datetime, str]]:
        """Lift every pause; returns (transport, until, why) of those lifted."""
        with self.transaction() as db:
            rows = db.rows("DELETE FROM pauses RETURNING transport, until, reason")
        return [(transport, datetime.fromisoformat(until), why) for transport, until, why in rows]

    # -- suppressions -------------------------------------------------------

    def _suppressions_among(self, db: Connection, emails: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in batches(sorted({e.casefold() for e in emails}), CHUNK):
            marks, values = named_marks("m", chunk)
            query = (
                f"SELECT email, reason FROM suppressions WHERE email IN ({marks})"
                " ORDER BY CASE WHEN reason = :bounce THEN 1 ELSE 0 END, reason"
            )
            rows = db.rows(query, {**values, "bounce": BOUNCE})
            found.update({e: r for e, r in rows})
        return found

    def suppressions_among(self, emails: Iterable[str]) -> dict[str, str]:
        """Address (casefolded) -> why it is suppressed, for those of these that are.

        An address suppressed for several reasons gives its bounce, if it has one:
        that one holds back every kind of message.
        """
        with self._read() as db:
            return self._suppressions_among(db, emails)

    def suppressed(self, reason: str | None = None) -> dict[str, str]:
        """Suppressed address -> when (its first suppression), for every reason or one."""
        query = "SELECT email, MIN(created_at) FROM suppressions"
        if reason is None:
            rows = self._rows(query + " GROUP BY email")
        else:
            rows = self._rows(query + " WHERE reason = :r GROUP BY email", r=reason)
        return {e: at for e, at in rows}

    def unsuppress(self, email: str) -> list[str]:
        """Lift every suppression of an address; returns the reasons it had."""
        with self.transaction() as db:
            rows = db.rows(
                "DELETE FROM suppressions WHERE email = :m RETURNING reason", {"m": email}
            )
            return [r for (r,) in rows]

    def suppress(self, email: str, reason: str, now: datetime) -> None:
        row = {"email": email.casefold(), "reason": reason, "created_at": _utc(now)}
        with self.transaction() as db:
            self._ignore(db, "suppressions", [row])

    # -- digests and tokens -------------------------------------------------

    def digest_history(self, job: str) -> list[tuple[str, list[str]]]:
        """(slot, resource keys held) for each digest this job decided, oldest first."""
        rows = self._rows("SELECT slot, held FROM digests WHERE job = :j ORDER BY slot", j=job)
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
            row = {
                "job": job,
                "slot": slot,
                "held": json.dumps(list(held)),
                "recipients": recipients,
                "decided_at": _utc(now),
            }
            db.run(statements.insert("digests", tuple(row)), row)
            return recipients

    def has_tokens(self) -> bool:
        """Whether any (HMAC token, address) pair is kept (none in a new or rebuilt ledger)."""
        return bool(self._rows("SELECT 1 FROM unsubscribe_tokens LIMIT 1"))

    def remember_tokens(self, tokens: Iterable[tuple[str, str]]) -> None:
        """Keep (HMAC token, address) pairs, so links of that older format are answered."""
        with self.transaction() as db:
            for chunk in batches(tokens, INSERT_BATCH):
                _insert_new(db, "unsubscribe_tokens", ("token", "email"), chunk)

    def email_for_token(self, token: str) -> str | None:
        rows = self._rows("SELECT email FROM unsubscribe_tokens WHERE token = :t", t=token)
        return rows[0][0] if rows else None

    # -- self-service requests ----------------------------------------------

    def index_seat_tokens(self, secret: str) -> int:
        """Store the lookup of every seat's links not yet indexed under this secret; how many."""
        unindexed = [
            (e, m)
            for e, m in self._rows(
                "SELECT event_id, email FROM seats AS s WHERE NOT EXISTS (SELECT 1 FROM"
                " seat_tokens AS t WHERE t.event_id = s.event_id AND t.email = s.email"
                " AND t.signer = :signer)",
                signer=self_service.signer_id(secret),
            )
        ]
        if unindexed:
            rows = [
                dict(zip(("lookup", "signer", "action", "event_id", "email"), row, strict=True))
                for row in self_service.seat_lookups(secret, unindexed)
            ]
            with self.transaction() as db:
                self._ignore(db, "seat_tokens", rows)
        return len(unindexed)

    def seat_for_token(self, secret: str, token: str) -> SeatRef | None:
        """The seat and action a genuine token stands for: one indexed query, then its signature."""
        rows = self._rows(
            "SELECT action, event_id, email FROM seat_tokens WHERE lookup = :lookup",
            lookup=self_service.token_lookup(token),
        )
        if not rows:
            return None
        ref = SeatRef(*rows[0])
        return ref if self_service.genuine_for(secret, token, ref) else None

    def seat(self, event_id: str, email: str) -> SeatRow | None:
        rows = self._rows(
            "SELECT event_id, email, status, position, row, address, name, written, language"
            " FROM seats"
            " WHERE event_id = :e AND email = :m",
            e=event_id,
            m=email,
        )
        return SeatRow(*rows[0]) if rows else None

    def add_request(
        self, token: str, seat: SeatRef, at: datetime, source: str, again: bool = True
    ) -> bool:
        """Keep a person's answer until a run acts on it; False if this token was seen before.

        With `again`, a token acted on before is taken again for an answer given
        after that run (a released seat an organizer confirmed again can be
        released again); the same answer read twice, or an older one, changes nothing.
        """
        row = {
            "token": token,
            "event_id": seat.event_id,
            "email": seat.email,
            "kind": seat.action,
            "at": _utc(at),
            "source": source,
        }
        statement = _ANSWER_AGAIN if again else _ANSWER_ONCE
        with self.transaction() as db:
            return bool(db.rows(statement, row))

    def has_open_request(self, token: str) -> bool:
        """An answer with this token waits for the next run."""
        query = "SELECT 1 FROM requests WHERE token = :t AND applied_at IS NULL"
        return bool(self._rows(query, t=token))

    def open_requests(self) -> list[Request]:
        """Answers no run has acted on yet, oldest first."""
        rows = self._rows(
            "SELECT token, kind, event_id, email, at FROM requests WHERE applied_at IS NULL"
            " ORDER BY at, token"
        )
        return [Request(t, k, e, m, datetime.fromisoformat(a)) for t, k, e, m, a in rows]

    def released(self) -> dict[tuple[str, str], datetime]:
        """(event, email) -> when the person gave up their place, for releases acted on."""
        rows = self._rows(
            "SELECT event_id, email, MAX(at) FROM requests WHERE kind = :k"
            " AND applied_at IS NOT NULL GROUP BY event_id, email",
            k=RELEASE,
        )
        return {(e, m): datetime.fromisoformat(a) for e, m, a in rows}

    # -- bounces read over IMAP ---------------------------------------------

    def mailbox_position(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID) where the last scan of `mailbox` stopped, if any."""
        rows = self._rows(
            "SELECT uidvalidity, last_uid FROM mailbox_positions WHERE mailbox = :m", m=mailbox
        )
        return None if not rows else (int(rows[0][0]), int(rows[0][1]))

    def set_mailbox_position(
        self, mailbox: str, uidvalidity: int, last_uid: int, now: datetime
    ) -> None:
        row = {
            "mailbox": mailbox,
            "uidvalidity": uidvalidity,
            "last_uid": last_uid,
            "scanned_at": _utc(now),
        }
        with self.transaction() as db:
            self._replace(db, "mailbox_positions", [row])

    def handed_over(self, email: str | None = None) -> list[tuple[str, str, str]]:
        """(key, email, event) of messages handed to a provider, to one address or to all."""
        query = (
            "SELECT key, email, event_id FROM messages WHERE (sent_at IS NOT NULL OR state = :u)"
        )
        params: dict[str, object] = {"u": UNKNOWN}
        if email is not None:
            query += " AND email = :m"
            params["m"] = email.casefold()
        return [(k, e, ev) for k, e, ev in self._rows(query, **params)]

    def record_bounce(self, report: str, bounce: BounceRow) -> bool:
        """Keep one bounce; False when this report about this message was taken before."""
        row = {
            "report": report,
            "message_key": bounce.message_key,
            "email": bounce.email.casefold(),
            "kind": bounce.kind,
            "status": bounce.status,
            "diagnostic": bounce.diagnostic,
            "at": bounce.at,
        }
        statement = statements.insert_new("bounces", tuple(row)) + " RETURNING report"
        with self.transaction() as db:
            return bool(db.rows(statement, row))

    def recent_soft_bounces(self, email: str, sends: int) -> list[bool]:
        """For the address's last `sends` messages, newest first: whether each bounced soft."""
        rows = self._rows(
            "SELECT EXISTS (SELECT 1 FROM bounces b WHERE b.message_key = m.key"
            " AND b.kind = 'soft') FROM messages m WHERE m.email = :m AND"
            " COALESCE(m.sent_at, m.tried_at) IS NOT NULL"
            " ORDER BY COALESCE(m.sent_at, m.tried_at) DESC, m.key DESC LIMIT :n",
            m=email.casefold(),
            n=sends,
        )
        return [bool(soft) for (soft,) in rows]

    def bounced_last(self) -> list[BounceRow]:
        """Bounces of the latest message handed over to each address: it is unreachable now."""
        rows = self._rows(
            "SELECT b.email, b.kind, b.status, b.diagnostic, b.message_key, b.at FROM bounces b"
            " WHERE b.kind <> 'complaint' AND b.message_key = (SELECT m.key FROM messages m"
            " WHERE m.email = b.email AND COALESCE(m.sent_at, m.tried_at) IS NOT NULL"
            " ORDER BY COALESCE(m.sent_at, m.tried_at) DESC, m.key DESC LIMIT 1)"
            " ORDER BY b.email, b.at"
        )
        return [BounceRow(*row) for row in rows]

    # -- the job runs -------------------------------------------------------

    def record_job_run(self, job: str, started: datetime, ok: bool, summary: str) -> None:
        row = {"job": job, "started": _utc(started), "ok": int(ok), "summary": summary}
        with self.transaction() as db:
            self._replace(db, "job_runs", [row])
