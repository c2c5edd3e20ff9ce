"""What `Ledger.state_token` reads, and how it digests it: one definition for every backend.

Each table is read whole where it stays small or is the roster, and in sums
where it grows with every message, digest and token sent. Any backend that
answers these queries with the same values gives the same token.

A SQLite ledger also counts its changes: triggers add one to `state_changes`
for every update that changes a value and every delete in the tables the
queries read, and an insert shows in the table's row count. There the token
is that count, each table's row count and the schema version: a few indexed
reads instead of the roster's 10,000 rows and a scan of every message (25-70
ms, and more as messages accumulate). No insert fires a trigger (a digest
writes 100,000 messages); an update or delete costs about a microsecond more
per row. A ledger without the triggers (one written before them, until the
store next opens it) is read whole as before; each kind of token is tagged,
so the two never compare equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

STATE_QUERIES = (
    "SELECT id, title, label, starts_at, ends_at, timezone, capacity, join_url, signup_url,"
    " status, sequence, missing, titles FROM events ORDER BY id",
    "SELECT event_id, email, status, position, row, address, name, written, language FROM seats"
    " ORDER BY event_id, email",
    "SELECT stamp, email, event_id FROM bindings ORDER BY stamp, email",
    "SELECT name, event_id FROM event_names ORDER BY name",
    "SELECT sheet_id, event_id FROM aliases ORDER BY sheet_id",
    "SELECT form, options, accepting FROM forms ORDER BY form",
    "SELECT count(*), max(added_at) FROM series_events",
    "SELECT token, event_id, email, kind, at, source, applied_at FROM requests ORDER BY token",
    "SELECT transport, until, reason FROM pauses ORDER BY transport",
    "SELECT state, count(*), max(key), max(created_at), max(sent_at), max(tried_at),"
    " sum(attempts), sum(length(reason)), sum(length(provider_id)) FROM messages"
    " GROUP BY state ORDER BY state",
    "SELECT reason, count(*), max(created_at), sum(length(email)) FROM suppressions"
    " GROUP BY reason ORDER BY reason",
    "SELECT count(*), max(lookup) FROM seat_tokens",
    "SELECT count(*), max(token) FROM unsubscribe_tokens",
    "SELECT count(*), max(decided_at) FROM digests",
)
# The tables whose changes SQLite's triggers count: what STATE_QUERIES read.
COUNTED = (
    "events",
    "seats",
    "bindings",
    "event_names",
    "aliases",
    "forms",
    "series_events",
    "requests",
    "pauses",
    "suppressions",
    "seat_tokens",
    "unsubscribe_tokens",
    "digests",
    "messages",
)
CHANGES = "state_changes"  # SQLite: one row, the count of changes to the counted tables
TRIGGERS = frozenset(f"{CHANGES}_{table}_{on}" for table in COUNTED for on in ("update", "delete"))
FIND_TRIGGERS = (
    f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '{CHANGES}%'"
)
COUNTS = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in COUNTED)

Rows = Callable[[str], Sequence[Sequence[object]]]  # the rows a query answers


def state_digest(answers: Iterable[Iterable[Sequence[object]]]) -> str:
    """The token of the rows each of STATE_QUERIES answered, in order."""
    import hashlib  # an unchanged run digests; `mailer status` does not

    digest = hashlib.sha256()
    for rows in answers:
        for row in rows:
            digest.update(repr(tuple(row)).encode("utf-8"))
    return digest.hexdigest()


def sqlite_state_token(rows: Rows) -> str:
    """A SQLite ledger's token, read in one transaction: counted where the triggers are there."""
    if {str(found[0]) for found in rows(FIND_TRIGGERS)} >= TRIGGERS:
        counted = (f"SELECT n FROM {CHANGES}", "PRAGMA user_version", COUNTS)
        return "counted:" + state_digest(rows(query) for query in counted)
    return state_digest(rows(query) for query in STATE_QUERIES)


def counting_statements(columns: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """SQLite's triggers that count changes, by name, given each counted table's columns."""
    made = {}
    for table in COUNTED:
        changed = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in columns[table])
        count = f"BEGIN UPDATE {CHANGES} SET n = n + 1; END"
        made[f"{CHANGES}_{table}_update"] = (
            f"CREATE TRIGGER {CHANGES}_{table}_update AFTER UPDATE ON {table}"
            f" WHEN {changed} {count}"
        )
        made[f"{CHANGES}_{table}_delete"] = (
            f"CREATE TRIGGER {CHANGES}_{table}_delete AFTER DELETE ON {table} {count}"
        )
    return made
