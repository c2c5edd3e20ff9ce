"""On SQLite, `mailer status` and an unchanged run read through the stdlib sqlite3 alone.

The reads (mailer.ledger.sqlite_reads) answer exactly what the store
answers; the store writes through sqlite3 too, so no run on a SQLite ledger,
reading or writing, imports SQLAlchemy at all.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, SiteDir
from test_digest import NEXT_SLOT, add_resources
from test_ledger import confirmation, decide
from test_ledger_upgrade import without_counting

from mailer.ledger import open_ledger
from mailer.ledger.records import FAILED, PENDING, SENT, UNKNOWN, BounceRow
from mailer.ledger.sqlite_ledger import SqliteLedger
from mailer.ledger.sqlite_reads import SqliteReads
from mailer.ledger.state_token import COUNTED
from mailer.ledger.store import SqlLedger
from mailer.ledger.tables import BY_NAME, FLOAT, INTEGER, TEXT
from mailer.mail.message import SendResult


@pytest.fixture
def busy(tmp_path: Path) -> Iterator[SqliteLedger]:
    """A ledger that has seen a bit of everything status shows and a run reads."""
    with open_ledger(tmp_path / "mailer.db") as ledger:
        assert isinstance(ledger, SqliteLedger)
        decide(ledger)
        ledger.add([confirmation("cy@example.org"), confirmation("dee@example.org")])
        later = NOW + timedelta(minutes=3)
        ledger.mark(SendResult("confirmation:ccs-1:zoe@example.org", SENT, provider_id="p1"), NOW)
        ledger.mark(SendResult("confirmation:ccs-1:ann@example.org", UNKNOWN), later)
        ledger.mark(SendResult("confirmation:ccs-1:cy@example.org", FAILED, reason="550"), later)
        ledger.suppress("Dee@Example.org", "unsubscribed", NOW)
        ledger.suppress("dee@example.org", "bounce", later)
        bounce = BounceRow("zoe@example.org", "soft", "4.2.2", "mailbox full", "k1", "2026-11-24")
        ledger.record_bounce("report-1", bounce)
        ledger.pause("smtp", NOW + timedelta(hours=2), "421 4.7.0 too many")
        ledger.record_job_run("signups", NOW, True, "0 new")
        ledger.set_fingerprint("signups", "abc123", '{"events": []}')
        yield ledger


def test_the_reads_answer_what_the_store_answers(busy: SqliteLedger) -> None:
    with closing(sqlite3.connect(busy.file.path)) as db:
        reads, store = SqliteReads(db), busy.store
        assert isinstance(store, SqlLedger)
        emails = ["zoe@example.org", "DEE@example.org", "nobody@example.org"]
        since = NOW - timedelta(hours=1)
        for ask in (
            lambda r: r.state_token(),
            lambda r: r.fingerprint("signups"),
            lambda r: r.fingerprint("digest"),
            lambda r: r.stored_events(),
            lambda r: r.seats(),
            lambda r: r.messages(),
            lambda r: r.messages((PENDING, FAILED, UNKNOWN)),
            lambda r: r.count_due(),
            lambda r: r.waiting(),
            lambda r: r.counted_since(since),
            lambda r: r.sent_at(("confirmation", "offer")),
            lambda r: r.paused("smtp"),
            lambda r: r.paused("outbox"),
            lambda r: r.suppressions_among(emails),
            lambda r: r.bounces(),
            lambda r: r.job_runs(),
        ):
            assert ask(reads) == ask(store)
        assert reads.suppressions_among(emails) == {"dee@example.org": "bounce"}


def test_a_read_after_a_write_sees_it(tmp_path: Path) -> None:
    with open_ledger(tmp_path / "mailer.db") as made:
        decide(made)
    with open_ledger(tmp_path / "mailer.db") as ledger:
        assert isinstance(ledger, SqliteLedger)
        before = ledger.state_token()
        assert _store_state(ledger) == "sqlite3 reads"
        ledger.suppress("zoe@example.org", "unsubscribed", NOW)  # the store opens for the write
        assert _store_state(ledger) == "store"
        assert ledger.state_token() != before
        assert ledger.suppressions_among(["zoe@example.org"]) == {"zoe@example.org": "unsubscribed"}


def test_the_state_token_sees_what_another_process_wrote(tmp_path: Path) -> None:
    with open_ledger(tmp_path / "mailer.db") as made:
        decide(made)
    with (
        open_ledger(tmp_path / "mailer.db") as ledger,
        open_ledger(tmp_path / "mailer.db") as other,
    ):
        before = ledger.state_token()
        assert ledger.state_token() == before
        other.suppress("zoe@example.org", "unsubscribed", NOW)
        assert ledger.state_token() == other.state_token() != before


def test_a_new_ledger_is_made_by_the_store(tmp_path: Path) -> None:
    with open_ledger(tmp_path / "new.db") as ledger:
        assert isinstance(ledger, SqliteLedger)
        assert _store_state(ledger) == "store"
        assert ledger.messages() == [] and ledger.state_token()


def test_reading_a_ledger_makes_and_removes_no_file(tmp_path: Path) -> None:
    """The reads' connection is read-only: its close leaves the -wal and -shm where they are."""
    with open_ledger(tmp_path / "mailer.db") as made:
        decide(made)
    with open_ledger(tmp_path / "mailer.db") as ledger:
        ledger.seats()
    files = {path.name: path.stat().st_ino for path in tmp_path.iterdir()}
    assert {"mailer.db-wal", "mailer.db-shm"} <= set(files)
    with open_ledger(tmp_path / "mailer.db") as ledger:
        assert isinstance(ledger, SqliteLedger)
        assert _store_state(ledger) == "sqlite3 reads"
        assert ledger.seats() and ledger.state_token()
    assert {path.name: path.stat().st_ino for path in tmp_path.iterdir()} == files


def _store_state(ledger: SqliteLedger) -> str:
    return "store" if ledger._store is not None else "sqlite3 reads"


def test_status_does_not_import_sqlalchemy(site: SiteDir) -> None:
    config = str(site.root / "mailer.toml")
    assert site.mailer("run").exit_code == 0
    shown, imported = _mailer_modules("--config", config, "status", "--now", NOW.isoformat())
    assert "confirmed" in shown
    assert "sqlalchemy" not in imported


def test_a_signups_run_with_nothing_to_do_does_not_import_sqlalchemy(site: SiteDir) -> None:
    config = str(site.root / "mailer.toml")
    assert site.mailer("run", "signups").exit_code == 0  # decides and sends
    at = (NOW + timedelta(minutes=5)).isoformat()  # finds nothing changed, and keeps that
    settled = _mailer("--config", config, "run", "signups", "--now", at, "--force")
    at = (NOW + timedelta(minutes=10)).isoformat()
    shown, imported = _mailer_modules("--config", config, "run", "signups", "--now", at, "--force")
    assert shown.strip() == settled.strip()
    assert "sqlalchemy" not in imported


def test_a_first_signups_run_and_a_digest_write_without_importing_sqlalchemy(
    site: SiteDir,
) -> None:
    config = str(site.root / "mailer.toml")
    at = NOW.isoformat()
    shown, imported = _mailer_modules("--config", config, "run", "signups", "--now", at, "--force")
    assert "14 new, 14 sent" in shown
    assert "sqlalchemy" not in imported
    add_resources(site, "Rest as resistance")
    at = NEXT_SLOT.isoformat()
    shown, imported = _mailer_modules("--config", config, "run", "digest", "--now", at, "--force")
    assert "1 new resource to 7 people" in shown
    assert "sqlalchemy" not in imported
    assert len(site.sent()) == 14 and len(site.sent(digests=True)) == 7


def _mailer(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mailer", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def _mailer_modules(*args: str) -> tuple[str, set[str]]:
    """What `mailer ARGS` printed, and the top-level packages its process imported."""
    code = (
        "import sys\n"
        "from mailer.cli.commands import cli\n"
        f"try:\n    cli.main({list(args)!r}, standalone_mode=False)\n"
        "finally:\n"
        "    print('\\nMODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    shown, _, modules = out.rpartition("\nMODULES ")
    return shown, set(modules.split())


def test_the_state_token_moves_with_every_insert_every_changed_value_and_every_delete(
    tmp_path: Path,
) -> None:
    """Whatever writes it (a run, `mailer serve`, another tool), a change to the roster shows."""
    path = tmp_path / "mailer.db"
    with open_ledger(path) as made:
        decide(made)
    with open_ledger(path) as ledger, closing(sqlite3.connect(path, isolation_level=None)) as db:
        seen = {ledger.state_token()}
        for table in COUNTED:
            columns, key = BY_NAME[table].columns, BY_NAME[table].key
            first = {c.name: _value(c.type, 1) for c in columns}
            marks = ", ".join(f":{name}" for name in first)
            db.execute(f"INSERT INTO {table} ({', '.join(first)}) VALUES ({marks})", first)
            seen.add(ledger.state_token())
            for column in columns:
                if column.name in key:
                    continue
                db.execute(f'UPDATE {table} SET "{column.name}" = "{column.name}"')
                unchanged = ledger.state_token()
                assert unchanged in seen, f"{table}: a value written again is no change"
                other = _value(column.type, 2)
                db.execute(f'UPDATE {table} SET "{column.name}" = ?', (other,))
                seen.add(ledger.state_token())
            db.execute(f"DELETE FROM {table}")
            seen.add(ledger.state_token())
        updates = sum(c.name not in BY_NAME[t].key for t in COUNTED for c in BY_NAME[t].columns)
        assert len(seen) == 1 + 2 * len(COUNTED) + updates


def _value(kind: str, n: int) -> object:
    return {TEXT: f"v{n}", INTEGER: n, FLOAT: n + 0.5}[kind]


def test_a_ledger_from_before_the_count_is_read_whole_until_the_store_opens_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mailer.db"
    with open_ledger(path) as made:
        decide(made)
        counted = made.state_token()
    with closing(sqlite3.connect(path)) as db:
        without_counting(db)
        db.commit()
    with open_ledger(path) as ledger:
        assert isinstance(ledger, SqliteLedger)
        whole = ledger.state_token()
        assert _store_state(ledger) == "sqlite3 reads"
        assert whole != counted
        ledger.store  # noqa: B018  (opening the store puts the count in place)
        now_counted = ledger.state_token()
        assert now_counted not in (whole, counted)
        ledger.suppress("zoe@example.org", "unsubscribed", NOW)
        assert ledger.state_token() not in (whole, counted, now_counted)
