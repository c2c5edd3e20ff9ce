"""The ledger's tables as plain values: the one description every backend's schema comes from.

SQLite's CREATE statements are written from it here (`sqlite_creation`);
`mailer.ledger.schema` builds SQLAlchemy's Tables from it for PostgreSQL,
and tests/test_ledger_schema.py checks the two say the same. Nothing here
imports SQLAlchemy, so a SQLite ledger is created and written without it.
"""

from __future__ import annotations

from typing import NamedTuple

from mailer.core.keyed import MARK
from mailer.ledger.records import PENDING, SKIPPED
from mailer.mail.states import SENT

TEXT, INTEGER, FLOAT = "TEXT", "INTEGER", "FLOAT"


class Column(NamedTuple):
    name: str
    type: str  # TEXT, INTEGER or FLOAT
    nullable: bool = False
    default: str | None = None  # the server default, a text SQL quotes ("0" is '0')


class Index(NamedTuple):
    """An index; a column holding "(" is an expression, written as it is.

    With `where`, a partial index: only the rows it picks are in it, and a
    query uses it only if the query's WHERE holds each of its terms as
    written (values as literals, not bound parameters).
    """

    name: str
    columns: tuple[str, ...]
    where: str = ""

    def sql_columns(self) -> str:
        return ", ".join(c if "(" in c else quoted(c) for c in self.columns)


class Table(NamedTuple):
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the primary key's columns
    indexes: tuple[Index, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every column's name, in order."""
        return tuple(c.name for c in self.columns)


# Column names SQLite's CREATE statements quote (SQL keywords), as SQLAlchemy's SQLite dialect does.
QUOTED = frozenset({"key", "row"})


def quoted(name: str) -> str:
    return f'"{name}"' if name in QUOTED else name


def literal(text: str) -> str:
    """A text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# When a message went, or was decided if it never went (skipped): what retention dates it by.
SENT_OR_DECIDED = "COALESCE(sent_at, created_at)"
# Messages sent or skipped that still keep a stored body or envelope: what retention strips.
BODIES_KEPT = (
    f"state IN ({literal(SENT)}, {literal(SKIPPED)}) AND (body_id <> '' OR envelope <> '{{}}')"
)
# Digest messages out of pending, not yet kept as counts (their key is no keyed hash): a
# digest's 100,000 pending rows enter no index more as they are recorded (the state first:
# for them the rest is not evaluated).
DIGESTS_IN_CLEAR = (
    f"state <> {literal(PENDING)} AND kind = 'digest' AND key NOT LIKE {literal(MARK + '%')}"
)


def _text(name: str, default: str | None = None) -> Column:
    return Column(name, TEXT, default=default)


def _int(name: str, default: str | None = None) -> Column:
    return Column(name, INTEGER, default=default)


def _table(
    name: str, key: tuple[str, ...], *columns: Column, indexes: tuple[Index, ...] = ()
) -> Table:
    return Table(name, columns, key, indexes)


TABLES: tuple[Table, ...] = (
    _table(
        "events",
        ("id",),
        _text("id"),
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
        _int("missing", "0"),
        _text("titles", "{}"),  # the title in the site's other languages, as JSON
    ),
    _table(
        "seats",
        ("event_id", "email"),
        _text("event_id"),
        _text("email"),
        _text("status"),
        Column("position", INTEGER, nullable=True),
        _int("row"),
        _text("address"),
        _text("name"),
        _text("written", ""),
        _int("place", "0"),  # the order the run decided them in
        _text("language", ""),  # the language the person's emails speak
    ),
    _table("bindings", ("stamp", "email"), _text("stamp"), _text("email"), _text("event_id")),
    _table("event_names", ("name",), _text("name"), _text("event_id")),
    _table("aliases", ("sheet_id",), _text("sheet_id"), _text("event_id")),
    _table("forms", ("form",), _text("form"), _text("options"), _int("accepting")),
    _table("series_events", ("event_id",), _text("event_id"), _text("series"), _text("added_at")),
    _table("bodies", ("id",), _text("id"), _text("body")),
    _table(
        "messages",
        ("key",),
        _text("key"),
        _text("kind"),
        _text("event_id"),
        _text("email"),
        _text("state"),
        _text("body_id"),
        _text("envelope"),
        _text("provider_id", ""),
        _text("reason", ""),
        _int("attempts", "0"),
        _text("created_at"),
        Column("sent_at", TEXT, nullable=True),
        _int("priority", "0"),
        Column("tried_at", TEXT, nullable=True),
        _text("holder", ""),  # the process that claimed it to send
        Column("lease_until", FLOAT, nullable=True),  # seconds since the epoch; then it lapses
        indexes=(
            Index("messages_by_state", ("state",)),
            Index("messages_by_event", ("event_id", "email")),
            Index("messages_by_sent_at", ("sent_at",)),
            # What retention reads on every run: what is due, found without reading the rest.
            Index("messages_bodies_kept", ("state", SENT_OR_DECIDED), BODIES_KEPT),
            Index("messages_digests_in_clear", ("created_at",), DIGESTS_IN_CLEAR),
        ),
    ),
    _table("pauses", ("transport",), _text("transport"), _text("until"), _text("reason")),
    _table(
        "digests",
        ("job", "slot"),
        _text("job"),
        _text("slot"),
        _text("held"),
        _int("recipients"),
        _text("decided_at"),
    ),
    _table("unsubscribe_tokens", ("token",), _text("token"), _text("email")),
    _table(  # one per address and reason: a bounce is never lost
        "suppressions", ("email", "reason"), _text("email"), _text("reason"), _text("created_at")
    ),
    _table(
        "seat_tokens",
        ("lookup",),
        _text("lookup"),
        _text("signer"),
        _text("action"),
        _text("event_id"),
        _text("email"),
        indexes=(Index("seat_tokens_by_seat", ("event_id", "email", "signer")),),
    ),
    _table(
        "requests",
        ("token",),
        _text("token"),
        _text("event_id"),
        _text("email"),
        _text("kind"),
        _text("at"),
        _text("source"),
        Column("applied_at", TEXT, nullable=True),
    ),
    _table(  # bounces and complaints read from the sending mailbox (mailer.jobs.bounces)
        "bounces",
        ("report", "message_key"),
        _text("report"),
        _text("message_key"),
        _text("email"),
        _text("kind"),
        _text("status"),
        _text("diagnostic"),
        _text("at"),
        indexes=(Index("bounces_by_email", ("email",)),),
    ),
    _table(
        "mailbox_positions",
        ("mailbox",),
        _text("mailbox"),
        _int("uidvalidity"),
        _int("last_uid"),
        _text("scanned_at"),
    ),
    _table(  # what the last run of a job that changed nothing decided from
        "fingerprints", ("job",), _text("job"), _text("digest"), _text("report")
    ),
    _table("job_runs", ("job",), _text("job"), _text("started"), _int("ok"), _text("summary")),
    # What retention and forgetting keep (mailer.ledger.privacy): counts and keyed hashes only.
    _table(  # a session whose people left the ledger, and its counts
        "retired_sessions",
        ("event_id",),
        _text("event_id"),
        _text("retired_at"),
        _text("seats"),  # {status: count}, as JSON
        _int("messages"),
    ),
    _table(  # which session a retired session's form answer belonged to
        "kept_bindings", ("hash",), _text("hash"), _text("event_id")
    ),
    _table("forgotten", ("hash",), _text("hash"), _text("at")),  # who asked, and when
    _table(  # a "forget me" answered on `mailer serve`, for the next run
        "forget_requests", ("token",), _text("token"), _text("at")
    ),
    _table(  # what the last prune left in an outbox, so an unchanged one is not read
        "outbox_kept", ("folder",), _text("folder"), _text("index_file"), _text("oldest")
    ),
)
BY_NAME = {table.name: table for table in TABLES}


def sqlite_creation() -> tuple[str, ...]:
    """Every table and index of a new SQLite ledger, tables by name, each with its indexes.

    IF NOT EXISTS: another process may be making the same file. The text is
    what SQLAlchemy compiles from `mailer.ledger.schema` for SQLite.
    """
    statements = []
    for table in sorted(TABLES, key=lambda t: t.name):
        lines = [_column_sql(c) for c in table.columns]
        lines.append(f"PRIMARY KEY ({', '.join(map(quoted, table.key))})")
        body = ", \n\t".join(lines)
        statements.append(f"\nCREATE TABLE IF NOT EXISTS {table.name} (\n\t{body}\n)\n\n")
        statements += [
            f"CREATE INDEX IF NOT EXISTS {index.name} ON {table.name} ({index.sql_columns()})"
            + (f" WHERE {index.where}" if index.where else "")
            for index in sorted(table.indexes, key=lambda index: index.name)
        ]
    return tuple(statements)


def _column_sql(column: Column) -> str:
    default = "" if column.default is None else " DEFAULT " + literal(column.default)
    return f"{quoted(column.name)} {column.type}{default}{'' if column.nullable else ' NOT NULL'}"
