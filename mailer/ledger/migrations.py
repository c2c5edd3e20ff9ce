"""The versioned steps that bring an older ledger up to the current schema, and its number.

Steps 2 to 6 predate PostgreSQL and only ever run on SQLite files; every
later step must run on both. The tables themselves are in `tables`; this
module needs no SQLAlchemy, so a reader can check a ledger's version cheaply
(and a Step is a NamedTuple, cheaper to define than a frozen dataclass).
"""

from __future__ import annotations

from typing import NamedTuple


class Step(NamedTuple):
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
    Step(
        9,
        "what retention and forgetting keep: retired sessions, keyed hashes, requests;"
        " what the last outbox prune left",
        (),
    ),
    # The steps are followed by every index not there yet: these are made then.
    Step(
        10,
        "retention finds what is due (bodies to strip, digests to keep as counts)"
        " without reading every message",
        (),
    ),
)
SCHEMA_VERSION = STEPS[-1].version
