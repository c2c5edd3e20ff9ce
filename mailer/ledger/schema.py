"""The ledger's tables, and the versioned steps that bring an older ledger up to them.

A new ledger is created from `METADATA` at `SCHEMA_VERSION`; a ledger at an
earlier version runs each later step of `STEPS` in order, in one transaction,
then gets the tables that are new since. Steps 2 to 6 predate PostgreSQL and
only ever run on SQLite files; every later step must run on both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text

METADATA = MetaData()


def _text(name: str, **options: object) -> Column[str]:
    return Column(name, Text, nullable=False, **options)  # type: ignore[arg-type]


def _int(name: str, **options: object) -> Column[int]:
    return Column(name, Integer, nullable=False, **options)  # type: ignore[arg-type]


events = Table(
    "events",
    METADATA,
    _text("id", primary_key=True),
    _text("title"),
    _text("label"),
    _text("starts_at"),
    _text("ends_at"),
    _text("timezone"),
    _int("capacity"),
    _text("join_url"),
    _text("signup_url"),
    _text("status"),
    _int("sequence"),
    _int("missing", server_default="0"),
    _text("titles", server_default="{}"),  # the title in the site's other languages, as JSON
)
seats = Table(
    "seats",
    METADATA,
    _text("event_id", primary_key=True),
    _text("email", primary_key=True),
    _text("status"),
    Column("position", Integer),
    _int("row"),
    _text("address"),
    _text("name"),
    _text("written", server_default=""),
    _int("place", server_default="0"),  # the order the run decided them in
    _text("language", server_default=""),  # the language the person's emails speak
)
bindings = Table(
    "bindings",
    METADATA,
    _text("stamp", primary_key=True),
    _text("email", primary_key=True),
    _text("event_id"),
)
event_names = Table("event_names", METADATA, _text("name", primary_key=True), _text("event_id"))
aliases = Table("aliases", METADATA, _text("sheet_id", primary_key=True), _text("event_id"))
forms = Table(
    "forms", METADATA, _text("form", primary_key=True), _text("options"), _int("accepting")
)
series_events = Table(
    "series_events",
    METADATA,
    _text("event_id", primary_key=True),
    _text("series"),
    _text("added_at"),
)
bodies = Table("bodies", METADATA, _text("id", primary_key=True), _text("body"))
messages = Table(
    "messages",
    METADATA,
    _text("key", primary_key=True),
    _text("kind"),
    _text("event_id"),
    _text("email"),
    _text("state"),
    _text("body_id"),
    _text("envelope"),
    _text("provider_id", server_default=""),
    _text("reason", server_default=""),
    _int("attempts", server_default="0"),
    _text("created_at"),
    Column("sent_at", Text),
    _int("priority", server_default="0"),
    Column("tried_at", Text),
    _text("holder", server_default=""),  # the process that claimed it to send
    Column("lease_until", Float),  # seconds since the epoch; past it, the claim lapses
    Index("messages_by_state", "state"),
    Index("messages_by_event", "event_id", "email"),
    Index("messages_by_sent_at", "sent_at"),
)
pauses = Table(
    "pauses", METADATA, _text("transport", primary_key=True), _text("until"), _text("reason")
)
digests = Table(
    "digests",
    METADATA,
    _text("job", primary_key=True),
    _text("slot", primary_key=True),
    _text("held"),
    _int("recipients"),
    _text("decided_at"),
)
unsubscribe_tokens = Table(
    "unsubscribe_tokens", METADATA, _text("token", primary_key=True), _text("email")
)
suppressions = Table(
    "suppressions",
    METADATA,
    _text("email", primary_key=True),
    _text("reason", primary_key=True),  # one per address and reason: a bounce is never lost
    _text("created_at"),
)
seat_tokens = Table(
    "seat_tokens",
    METADATA,
    _text("lookup", primary_key=True),
    _text("signer"),
    _text("action"),
    _text("event_id"),
    _text("email"),
    Index("seat_tokens_by_seat", "event_id", "email", "signer"),
)
requests = Table(
    "requests",
    METADATA,
    _text("token", primary_key=True),
    _text("event_id"),
    _text("email"),
    _text("kind"),
    _text("at"),
    _text("source"),
    Column("applied_at", Text),
)
bounces = Table(  # bounces and complaints read from the sending mailbox (mailer.jobs.bounces)
    "bounces",
    METADATA,
    _text("report", primary_key=True),
    _text("message_key", primary_key=True),
    _text("email"),
    _text("kind"),
    _text("status"),
    _text("diagnostic"),
    _text("at"),
    Index("bounces_by_email", "email"),
)
mailbox_positions = Table(
    "mailbox_positions",
    METADATA,
    _text("mailbox", primary_key=True),
    _int("uidvalidity"),
    _int("last_uid"),
    _text("scanned_at"),
)
fingerprints = Table(  # what the last run of a job that changed nothing decided from
    "fingerprints", METADATA, _text("job", primary_key=True), _text("digest"), _text("report")
)
job_runs = Table(
    "job_runs",
    METADATA,
    _text("job", primary_key=True),
    _text("started"),
    _int("ok"),
    _text("summary"),
)
# What retention and forgetting keep (mailer.ledger.privacy): counts and keyed hashes only.
retired_sessions = Table(  # a session whose people left the ledger, and its counts
    "retired_sessions",
    METADATA,
    _text("event_id", primary_key=True),
    _text("retired_at"),
    _text("seats"),  # {status: count}, as JSON
    _int("messages"),
)
kept_bindings = Table(  # which session a retired session's form answer belonged to
    "kept_bindings", METADATA, _text("hash", primary_key=True), _text("event_id")
)
forgotten = Table(  # an address that asked to be forgotten, and when
    "forgotten", METADATA, _text("hash", primary_key=True), _text("at")
)
forget_requests = Table(  # a "forget me" answered on `mailer serve`, for the next run
    "forget_requests", METADATA, _text("token", primary_key=True), _text("at")
)


@dataclass(frozen=True)
class Step:
    """What schema `version` changed, as statements run on a ledger one version older."""

    version: int
    why: str
    statements: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step(
        2,
        "sessions that left the sheet; what mailer last wrote in each Status cell",
        (
            "ALTER TABLE events ADD COLUMN missing INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE seats ADD COLUMN written TEXT NOT NULL DEFAULT ''",
            "UPDATE seats SET written = status",
        ),
    ),
    Step(
        3,
        "time-critical mail before the digest; when a message was handed over",
        (
            "ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE messages ADD COLUMN tried_at TEXT",
            "UPDATE messages SET priority = 1 WHERE kind = 'digest'",
        ),
    ),
    Step(4, "people's own answers (release, claim), acted on once", ()),
    Step(
        5,
        "one suppression per address and reason: a bounce is never lost behind an unsubscribe",
        (
            "CREATE TABLE suppressions_by_reason (email TEXT NOT NULL, reason TEXT NOT NULL,"
            " created_at TEXT NOT NULL, PRIMARY KEY (email, reason))",
            "INSERT INTO suppressions_by_reason SELECT email, reason, created_at FROM suppressions",
            "DROP TABLE suppressions",
            "ALTER TABLE suppressions_by_reason RENAME TO suppressions",
        ),
    ),
    Step(
        6,
        "claims with a holder and a lease; seats keep their order without rowid",
        (
            "ALTER TABLE messages ADD COLUMN holder TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE messages ADD COLUMN lease_until FLOAT",
            "ALTER TABLE seats ADD COLUMN place INTEGER NOT NULL DEFAULT 0",
            "UPDATE seats SET place = rowid",
        ),
    ),
    Step(7, "what the last run of a job that changed nothing decided from", ()),
    Step(
        8,
        "each person's language; each session's titles in the site's other languages",
        (
            "ALTER TABLE seats ADD COLUMN language TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE events ADD COLUMN titles TEXT NOT NULL DEFAULT '{}'",
        ),
    ),
    # A SQLite ledger may hold these tables already, made as they were first needed.
    Step(9, "what retention and forgetting keep: retired sessions, keyed hashes, requests", ()),
)
SCHEMA_VERSION = STEPS[-1].version
