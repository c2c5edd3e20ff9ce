"""A ledger written by the previous mailer opens and is upgraded in place, nothing lost."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import NOW
from test_sendgrid import queue, shared_body

from mailer.core.errors import LedgerError
from mailer.core.keyed import keyed
from mailer.ledger import open_ledger
from mailer.ledger.migrations import SCHEMA_VERSION
from mailer.ledger.privacy import Privacy
from mailer.ledger.store import SqlLedger, store_of
from mailer.mail.message import Draft

# What each schema added, undone to take a ledger back to the version before it.
ADDED_IN = {
    10: "DROP INDEX messages_bodies_kept; DROP INDEX messages_digests_in_clear;",
    9: "DROP TABLE retired_sessions; DROP TABLE kept_bindings; DROP TABLE forgotten;"
    " DROP TABLE forget_requests;",
    8: "ALTER TABLE seats DROP COLUMN language; ALTER TABLE events DROP COLUMN titles;",
    7: "DROP TABLE fingerprints;",
    6: "ALTER TABLE messages DROP COLUMN holder; ALTER TABLE messages DROP COLUMN lease_until;"
    " ALTER TABLE seats DROP COLUMN place; DROP TABLE job_runs;",
    5: "DROP TABLE suppressions; CREATE TABLE suppressions (email TEXT PRIMARY KEY,"
    " reason TEXT NOT NULL, created_at TEXT NOT NULL);",
    4: "DROP TABLE requests;",
    3: "DROP INDEX messages_by_sent_at; DROP TABLE pauses;"
    " ALTER TABLE messages DROP COLUMN priority; ALTER TABLE messages DROP COLUMN tried_at;",
    2: "ALTER TABLE events DROP COLUMN missing; ALTER TABLE seats DROP COLUMN written;"
    " DROP TABLE bindings; DROP TABLE event_names; DROP TABLE aliases; DROP TABLE forms;"
    " DROP TABLE series_events;",
}


def as_written_by_schema(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    without_counting(db)
    for undone in range(SCHEMA_VERSION, version, -1):
        db.executescript(ADDED_IN[undone])
    db.execute(f"PRAGMA user_version = {version}")
    db.close()


def without_counting(db: sqlite3.Connection) -> None:
    """No earlier version counted changes (mailer.ledger.state_token)."""
    triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    for (name,) in db.execute(triggers).fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("DROP TABLE state_changes")


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_an_older_ledger_is_upgraded_and_keeps_its_messages(tmp_path: Path, version: int):
    path = tmp_path / "mailer.db"
    ledger = open_ledger(path)
    queue(ledger, 3)
    ledger.add([confirmation()])
    ledger.close()
    as_written_by_schema(path, version)

    ledger = open_ledger(path)
    due = [m.kind for batch in ledger.due() for m in batch]

    assert ledger.schema_version() == SCHEMA_VERSION == 10
    assert due == ["confirmation", "digest", "digest", "digest"], "the digest goes last"
    assert ledger.paused("smtp") is None


def test_an_unsubscribe_kept_by_an_older_ledger_leaves_room_for_a_bounce(tmp_path: Path):
    path = tmp_path / "mailer.db"
    open_ledger(path).close()
    as_written_by_schema(path, 4)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO suppressions VALUES ('ann@example.org', 'unsubscribe', '2026-11-01')")
    db.commit()
    db.close()

    ledger = open_ledger(path)
    ledger.suppress("ann@example.org", "bounce", NOW)

    assert ledger.suppressed("unsubscribe") == {"ann@example.org": "2026-11-01"}
    assert list(ledger.suppressed("bounce")) == ["ann@example.org"]
    assert ledger.suppressions_among(["Ann@example.org"]) == {"ann@example.org": "bounce"}


def test_a_ledger_from_a_newer_mailer_is_refused(tmp_path: Path):
    path = tmp_path / "mailer.db"
    open_ledger(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()

    with pytest.raises(LedgerError, match="run the mailer version that wrote it"):
        open_ledger(path)


def test_the_ledger_file_is_readable_by_its_owner_only(tmp_path: Path):
    old = os.umask(0o022)
    try:
        open_ledger(tmp_path / "state" / "mailer.db").close()
    finally:
        os.umask(old)

    mode = stat.S_IMODE((tmp_path / "state" / "mailer.db").stat().st_mode)
    assert mode == 0o600


def confirmation() -> Draft:
    """Decided after the digest: only its priority puts it first."""
    return Draft(
        key="confirmation:ccs:ann@example.org",
        kind="confirmation",
        event_id="ccs",
        to_email="ann@example.org",
        to_name="Ann",
        created_at=NOW + timedelta(minutes=1),
        body=shared_body(),
    )


# How schema 8 made the tables of retention and forgetting, when first needed, and the keyed
# hashes it wrote: computed inside SQLite by a function registered on its connection.
SCHEMA_8_PRIVACY = """
CREATE TABLE IF NOT EXISTS retired_sessions (event_id TEXT PRIMARY KEY,
    retired_at TEXT NOT NULL, seats TEXT NOT NULL, messages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kept_bindings (hash TEXT PRIMARY KEY, event_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forgotten (hash TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forget_requests (token TEXT PRIMARY KEY, at TEXT NOT NULL);
"""
SECRET = "a site's secret"
ASKED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def schema_8_retired(db: sqlite3.Connection, event_id: str) -> None:
    """What schema 8 kept of a session it retired: its bindings and messages, hashed in SQL."""
    db.create_function("keyed", 2, lambda purpose, text: keyed(SECRET, purpose, text))
    db.execute(
        "INSERT OR IGNORE INTO kept_bindings SELECT keyed('binding', stamp || char(0) ||"
        " email), event_id FROM bindings WHERE event_id = ?",
        (event_id,),
    )
    db.execute(
        "UPDATE messages SET key = keyed('message', key), email = keyed('email', email)"
        " WHERE event_id = ?",
        (event_id,),
    )
    for table in ("bindings", "seats"):
        db.execute(f"DELETE FROM {table} WHERE event_id = ?", (event_id,))
    db.execute("INSERT INTO retired_sessions VALUES (?, '2026-11-20', '{}', 1)", (event_id,))


def with_a_session(db: sqlite3.Connection, event_id: str, email: str, stamp: str) -> None:
    db.execute("INSERT INTO bindings VALUES (?, ?, ?)", (stamp, email, event_id))
    db.execute(
        "INSERT INTO messages (key, kind, event_id, email, state, body_id, envelope, created_at)"
        " VALUES (?, 'confirmation', ?, ?, 'sent', '', '{}', ?)",
        (f"confirmation:{event_id}:{email}", event_id, email, stamp),
    )


def test_a_ledger_that_made_its_privacy_tables_itself_is_upgraded_and_keeps_its_hashes(
    tmp_path: Path,
):
    path = tmp_path / "mailer.db"
    open_ledger(path).close()
    as_written_by_schema(path, 8)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA_8_PRIVACY)
    for event_id, email in (("old", "ann@example.org"), ("later", "bo@example.org")):
        with_a_session(db, event_id, email, "2026-10-01T10:00:00+00:00")
    schema_8_retired(db, "old")
    db.execute(
        "INSERT INTO forgotten VALUES (?, ?)",
        (keyed(SECRET, "email", "cy@example.org"), ASKED.isoformat()),
    )
    db.execute("INSERT INTO forget_requests VALUES ('u2.token', ?)", (ASKED.isoformat(),))
    db.close()

    with open_ledger(path) as ledger:
        privacy = Privacy(ledger, lambda: SECRET)
        version = ledger.schema_version()
        found = privacy.retired_binding(("2026-10-01T10:00:00+00:00", "ann@example.org"))
        asked = privacy.forgotten_at("cy@example.org")
        retired = privacy.retired_sessions()
        privacy.retire(["later"], NOW, NOW)

    assert version == SCHEMA_VERSION == 10
    assert (found, asked, retired) == ("old", ASKED, {"old"})
    again = tmp_path / "again.db"  # the same session retired by schema 8 instead
    open_ledger(again).close()
    as_written_by_schema(again, 8)
    db = sqlite3.connect(again, isolation_level=None)
    db.executescript(SCHEMA_8_PRIVACY)
    with_a_session(db, "later", "bo@example.org", "2026-10-01T10:00:00+00:00")
    schema_8_retired(db, "later")
    db.close()
    hashes = "SELECT hash FROM kept_bindings UNION ALL SELECT key || email FROM messages"
    assert rows(again, hashes) <= rows(path, hashes), "the same hashes, byte for byte"
    assert rows(path, "SELECT token FROM forget_requests") == {("u2.token",)}


def rows(path: Path, query: str) -> set[tuple[str, ...]]:
    db = sqlite3.connect(path)
    try:
        return set(db.execute(query))
    finally:
        db.close()


def test_a_ledger_of_schema_8_gets_the_tables_of_retention_and_forgetting(ledger_url: str):
    with open_ledger(ledger_url) as ledger:
        taken_back(store_of(ledger))

    with open_ledger(ledger_url) as ledger:
        privacy = Privacy(ledger, lambda: SECRET)
        removed = privacy.forget("ann@example.org", NOW)

        assert ledger.schema_version() == SCHEMA_VERSION
        assert privacy.forgotten_at("ann@example.org") == NOW
        assert not removed


def taken_back(ledger: SqlLedger) -> None:
    """The ledger as schema 8 left it when nothing was retired or forgotten: no such tables."""
    with ledger.transaction() as db:
        for table in ("retired_sessions", "kept_bindings", "forgotten", "forget_requests"):
            db.run(f"DROP TABLE {table}")
        ledger.backend.set_schema_version(db, 8)
