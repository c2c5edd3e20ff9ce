"""The SQLite ledger as `open_ledger` hands it out: plain reads first, the store for the rest.

Until a call needs more than `Reads` (mailer.ledger.protocols), the ledger
answers on one connection of its own (mailer.ledger.sqlite_reads): `mailer
status` and a signups run with nothing to do import no more than that. The
first other call opens the store (mailer.ledger.store, the one that writes,
on mailer.ledger.sqlite's connections), and from then on every call goes to
the store, so a read made after a write, or inside a transaction, sees it.
A ledger that is new or at an older schema opens the store at once, which
creates or migrates it. Both speak to the file through the stdlib sqlite3:
a SQLite ledger never imports SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.ledger.migrations import SCHEMA_VERSION
from mailer.ledger.records import SENDING, UNKNOWN
from mailer.ledger.sqlite_file import SqliteFile
from mailer.ledger.sqlite_reads import SqliteReads

if TYPE_CHECKING:
    from mailer.ledger.protocols import Reads
    from mailer.ledger.records import BounceRow, MessageRow, SeatRow
    from mailer.ledger.store import SqlLedger
    from mailer.rules.schedules import LastRun
    from mailer.sessions import StoredEvent


class SqliteLedger:
    """A SQLite ledger file; the store is opened for the first call that needs more than reads."""

    shared = False  # one process sends at a time, under the run lock

    def __init__(self, path: Path, lease: float):
        self.file = SqliteFile(path)
        self.where = str(self.file.path)
        self.lease = lease
        self._store: SqlLedger | None = None
        self._reads: SqliteReads | None = None
        # The reads' own, apart from the store's.
        self._connection = self.file.connect(read_only=True)
        try:
            reads = SqliteReads(self._connection)
            if reads.schema_version() == SCHEMA_VERSION and reads.has_tables():
                self._reads = reads
            else:
                self.store  # noqa: B018  (creates or migrates the ledger now)
        except BaseException:
            self.close()
            raise

    @property
    def store(self) -> SqlLedger:
        """The ledger that writes; from the first use on, every call goes there."""
        if self._store is None:
            from mailer.ledger.sqlite import SqliteBackend
            from mailer.ledger.store import SqlLedger

            self._store = SqlLedger(SqliteBackend(self.file), self.lease)
            self._reads = None
        return self._store

    def __getattr__(self, name: str) -> Any:
        # Only for what this class does not define: every write, and the rarer reads.
        if name.startswith("__") or name in ("_store", "_reads", "_connection", "file"):
            raise AttributeError(name)
        return getattr(self.store, name)

    @property
    def _read(self) -> Reads:
        return self._reads if self._reads is not None else self.store

    # -- Reads, through sqlite3 while the store is not open -------------------

    def state_token(self) -> str:
        return self._read.state_token()

    def fingerprint(self, job: str) -> tuple[str, str] | None:
        return self._read.fingerprint(job)

    def stored_events(self) -> dict[str, StoredEvent]:
        return self._read.stored_events()

    def seats(self) -> list[SeatRow]:
        return self._read.seats()

    def messages(self, states: Sequence[str] | None = None) -> list[MessageRow]:
        return self._read.messages() if states is None else self._read.messages(states)

    def count_due(self) -> int:
        return self._read.count_due()

    def waiting(self) -> list[tuple[int, int]]:
        return self._read.waiting()

    def counted_since(self, since: datetime) -> tuple[int, str | None]:
        return self._read.counted_since(since)

    def sent_at(self, kinds: Sequence[str]) -> dict[tuple[str, str, str], str]:
        return self._read.sent_at(kinds)

    def paused(self, transport: str) -> tuple[datetime, str] | None:
        return self._read.paused(transport)

    def suppressions_among(self, emails: Iterable[str]) -> dict[str, str]:
        return self._read.suppressions_among(emails)

    def bounces(self) -> list[BounceRow]:
        return self._read.bounces()

    def job_runs(self) -> dict[str, LastRun]:
        return self._read.job_runs()

    def select(self, query: str, **params: object) -> list[Any]:
        return self._read.select(query, **params)

    # -- writes that a read shows would change nothing ------------------------

    def interrupted(self) -> int:
        """Claims a killed run left become unknown (the store's); none left, nothing to do."""
        if self._reads is not None and not self._reads.count_in((SENDING,)):
            return 0
        return self.store.interrupted()

    def requeue_unknown(
        self,
        tried_before: datetime | None = None,
        bulk: bool = True,
        except_events: Sequence[str] = (),
        tried_once: bool = False,
    ) -> int:
        if self._reads is not None and not self._reads.count_in((UNKNOWN,)):
            return 0
        return self.store.requeue_unknown(tried_before, bulk, except_events, tried_once)

    def release_claims(self) -> int:
        if self._store is None:
            return 0  # the store claims; without it this process claimed nothing
        return self._store.release_claims()

    # -- the file -------------------------------------------------------------

    def run_lock(self, timeout: float) -> AbstractContextManager[None]:
        """One deciding run at a time (the lock file beside the ledger); wait up to `timeout`."""
        return self.file.run_lock(timeout)

    def close(self) -> None:
        self._connection.close()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
