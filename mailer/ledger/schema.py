"""The ledger's tables, and the versioned steps that bring an older ledger up to them.

A new ledger is created from `METADATA` at `SCHEMA_VERSION`; a ledger at an
earlier version runs each later step of `STEPS` (mailer.ledger.migrations) in
order, in one transaction, then gets the tables that are new since.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text

from mailer.ledger.migrations import SCHEMA_VERSION as SCHEMA_VERSION
from mailer.ledger.migrations import STEPS as STEPS

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
outbox_kept = Table(  # what the last prune left in an outbox, so an unchanged one is not read
    "outbox_kept", METADATA, _text("folder", primary_key=True), _text("index_file"), _text("oldest")
)
