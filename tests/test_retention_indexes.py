"""Retention finds what is due through indexes that hold only what may come due.

Every run ends with retention (mailer.ledger.privacy). Reading every message
to find none due cost ~50 ms a query with two digests to 100,000 readers
kept; the indexes give the same answers as that full read, on both backends,
on a new ledger and on one upgraded from schema 9.
"""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW

from mailer.ledger import open_ledger
from mailer.ledger.privacy import BODIES_DUE, DUE_DIGESTS, HASHED, Privacy
from mailer.ledger.records import PENDING, SENDING, SKIPPED
from mailer.ledger.store import SqlLedger, store_of
from mailer.mail.states import FAILED, RETRY, SENT, UNKNOWN

SECRET = "a site's secret"
RETENTION_INDEXES = {"messages_bodies_kept", "messages_digests_in_clear"}
# The moments retention is asked about: each message below comes due at one of them.
MOMENTS = [NOW - timedelta(days=days) for days in (400, 280, 180, 100, 30, 10, 1, 0)]
# key, kind, state, decided (days ago), sent (days ago), stored body, stored envelope
MESSAGES = [
    ("digest:sent", "digest", SENT, 300, 299, "b1", '{"to": 1}'),
    ("digest:skipped", "digest", SKIPPED, 290, None, "b1", '{"to": 1}'),  # never sent
    ("digest:pending", "digest", PENDING, 300, None, "b1", '{"to": 1}'),
    ("digest:retry", "digest", RETRY, 250, None, "b1", '{"to": 1}'),
    ("digest:sending", "digest", SENDING, 250, None, "b1", '{"to": 1}'),
    ("digest:unknown", "digest", UNKNOWN, 250, None, "b1", '{"to": 1}'),
    ("digest:failed", "digest", FAILED, 300, None, "b1", '{"to": 1}'),
    ("digest:sent-late", "digest", SENT, 200, 20, "b1", '{"to": 1}'),
    ("digest:recent", "digest", SENT, 5, 5, "b1", '{"to": 1}'),
    ("digest:recent-pending", "digest", PENDING, 2, None, "b1", '{"to": 1}'),
    ("h:kept-as-a-count", "digest", SKIPPED, 300, None, "", "{}"),
    ("confirmation:sent", "confirmation", SENT, 300, 40, "b2", '{"to": 2}'),
    ("confirmation:stripped", "confirmation", SENT, 300, 290, "", "{}"),
    ("reminder:envelope-only", "reminder", SENT, 120, 119, "", '{"to": 3}'),
    ("reminder:body-only", "reminder", SKIPPED, 50, None, "b3", "{}"),
    ("reminder:pending", "reminder", PENDING, 300, None, "b3", '{"to": 3}'),
]
# The questions as retention first asked them: every message read.
EVERY_BODY_DUE = (
    "SELECT key FROM messages WHERE state IN (:sent, :skipped)"
    " AND COALESCE(sent_at, created_at) < :before AND (body_id <> '' OR envelope <> '{}')"
)
EVERY_DIGEST_DUE = (
    "SELECT key FROM messages WHERE kind = 'digest' AND created_at < :cutoff"
    " AND key NOT LIKE :hashed"
)


def with_messages(ledger: SqlLedger) -> None:
    rows = [
        {
            "key": key,
            "kind": kind,
            "email": f"{key.replace(':', '.')}@example.org",
            "state": state,
            "body_id": body,
            "envelope": envelope,
            "created_at": (NOW - timedelta(days=decided)).isoformat(),
            "sent_at": None if sent is None else (NOW - timedelta(days=sent)).isoformat(),
        }
        for key, kind, state, decided, sent, body, envelope in MESSAGES
    ]
    with ledger.transaction() as db:
        db.run(
            "INSERT INTO messages (key, kind, event_id, email, state, body_id, envelope,"
            " created_at, sent_at) VALUES (:key, :kind, '', :email, :state, :body_id,"
            " :envelope, :created_at, :sent_at)",
            rows,
        )


def keys(ledger: SqlLedger, query: str, **params: object) -> set[str]:
    with ledger.reading() as db:
        return {key for (key,) in db.rows(query, params)}


def bodies_due(ledger: SqlLedger, moment: object) -> set[str]:
    return keys(ledger, EVERY_BODY_DUE, sent=SENT, skipped=SKIPPED, before=moment)


def digests_due(ledger: SqlLedger, moment: object) -> set[str]:
    return keys(ledger, EVERY_DIGEST_DUE, cutoff=moment, hashed=HASHED)


def answers(ledger: SqlLedger) -> list[tuple[int, int]]:
    """(bodies to strip, digest messages to keep as counts) at each moment, as a dry run counts."""
    privacy = Privacy(ledger, lambda: SECRET)
    return [
        (privacy.strip_bodies(moment, dry_run=True), privacy.retire([], moment, NOW, True).messages)
        for moment in MOMENTS
    ]


def read_in_full(ledger: SqlLedger) -> list[tuple[int, int]]:
    return [
        (len(bodies_due(ledger, m.isoformat())), len(digests_due(ledger, m.isoformat())))
        for m in MOMENTS
    ]


def test_retention_counts_what_reading_every_message_counts(ledger_url: str):
    with open_ledger(ledger_url) as opened:
        ledger = store_of(opened)
        with_messages(ledger)

        assert answers(ledger) == read_in_full(ledger)
        assert answers(ledger) == [
            (0, 0),
            (2, 4),
            (2, 8),
            (3, 8),
            (5, 8),
            (6, 8),
            (7, 10),
            (7, 10),
        ]


def test_retention_strips_and_keeps_as_counts_the_messages_a_full_read_picks(ledger_url: str):
    moment = MOMENTS[3]
    with open_ledger(ledger_url) as opened:
        ledger = store_of(opened)
        with_messages(ledger)
        stripped = bodies_due(ledger, moment.isoformat())
        kept = digests_due(ledger, moment.isoformat())
        privacy = Privacy(ledger, lambda: SECRET)
        without_body = "SELECT key FROM messages WHERE body_id = '' AND envelope = '{}'"
        had_none = keys(ledger, without_body)

        assert privacy.strip_bodies(moment) == len(stripped) == 3
        assert keys(ledger, without_body) == had_none | stripped
        assert privacy.retire([], moment, NOW).messages == len(kept) == 8
        assert not keys(ledger, "SELECT key FROM messages WHERE key NOT LIKE 'h:%'") & kept
        assert answers(ledger) == read_in_full(ledger)


def index_names(ledger: SqlLedger) -> set[str]:
    query = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'messages'"
        if ledger.backend.shared
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
    )
    return keys(ledger, query)


def test_a_ledger_of_schema_9_gains_the_indexes_and_gives_the_same_answers(ledger_url: str):
    with open_ledger(ledger_url) as opened:
        ledger = store_of(opened)
        with_messages(ledger)
        expected = answers(ledger)
        with ledger.transaction() as db:
            for name in RETENTION_INDEXES:
                db.run(f"DROP INDEX {name}")
            ledger.backend.set_schema_version(db, 9)
        assert not index_names(ledger) & RETENTION_INDEXES

    with open_ledger(ledger_url) as opened:
        ledger = store_of(opened)

        assert opened.schema_version() == 10
        assert index_names(ledger) >= RETENTION_INDEXES
        assert answers(ledger) == expected == read_in_full(ledger)


def plan(ledger: SqlLedger, query: str, **params: object) -> str:
    """How the database would run the query; PostgreSQL told to read no table in full."""
    with ledger.transaction() as db:
        if ledger.backend.shared:
            db.run("SET LOCAL enable_seqscan = off")
            return " ".join(str(row[0]) for row in db.rows(f"EXPLAIN {query}", params))
        return " ".join(str(row[-1]) for row in db.rows(f"EXPLAIN QUERY PLAN {query}", params))


def test_retention_reads_what_is_due_through_its_indexes(ledger_url: str):
    with open_ledger(ledger_url) as opened:
        ledger = store_of(opened)
        with_messages(ledger)
        before = {"before": NOW.isoformat()}
        digests = {"cutoff": NOW.isoformat(), "hashed": HASHED, "pending": PENDING}

        assert "messages_bodies_kept" in plan(
            ledger, f"SELECT count(*) FROM messages WHERE {BODIES_DUE}", **before
        )
        assert "messages_bodies_kept" in plan(
            ledger, f"UPDATE messages SET body_id = '' WHERE {BODIES_DUE}", **before
        )
        digests_plan = plan(ledger, DUE_DIGESTS, **digests)
        assert "messages_digests_in_clear" in digests_plan
        assert "messages_by_state" in digests_plan  # the pending ones: no index more for them
