"""A ledger written by the previous mailer opens and is upgraded in place, nothing lost."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW
from test_sendgrid import queue, shared_body

from mailer.core.errors import LedgerError
from mailer.ledger import open_ledger
from mailer.ledger.schema import SCHEMA_VERSION
from mailer.mail.message import Draft

# What each schema added, undone to take a ledger back to the version before it.
ADDED_IN = {
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
    for undone in range(SCHEMA_VERSION, version, -1):
        db.executescript(ADDED_IN[undone])
    db.execute(f"PRAGMA user_version = {version}")
    db.close()


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

    assert ledger.schema_version() == SCHEMA_VERSION == 8
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
