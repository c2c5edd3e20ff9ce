"""What the store (mailer.ledger.store) asks of a database: a connection for plain SQL, a backend.

Every statement is one text for every backend, its parameters `:named`
(a batch insert may bind positional marks, `Connection.mark`). The SQLite
backend answers through the stdlib sqlite3 (mailer.ledger.sqlite), the
PostgreSQL one through SQLAlchemy Core and psycopg (mailer.ledger.postgresql).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Named = Mapping[str, object]  # a statement's `:named` parameters
Params = Named | Sequence[Named]  # a sequence (a list): the statement runs once for each


class Connection(Protocol):
    """One connection to the ledger's database, in a transaction the store begins and ends."""

    mark: str  # the driver's positional parameter mark: ? or %s
    insert_verb: str  # how a batch insert starts (SQLite's keeps no statement journal)

    def rows(self, sql: str, params: Named | None = None) -> list[Any]:
        """The rows a statement answers (none for a write without RETURNING)."""

    def chunks(self, sql: str, size: int, params: Named | None = None) -> Iterator[list[Any]]:
        """The rows of a long read, `size` at a time, never all held at once."""

    def run(self, sql: str, params: Params | None = None) -> int:
        """Run a write; how many rows it changed. A list of parameter sets runs it for each."""

    def run_marked(self, sql: str, values: Sequence[Any], many: bool = False) -> int:
        """Run a statement written with positional marks (`mark`); how many rows it changed.

        With `many`, `values` holds one tuple of values for each run of it.
        """

    def begin(self, write: bool) -> None:
        """Begin a transaction; a write one keeps other writers out from its start, where it can."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """End the transaction undone (nothing to do if none is open)."""

    @property
    def in_transaction(self) -> bool: ...

    def close(self) -> None:
        """Hand the connection back (to its pool)."""


class Backend(Protocol):
    """What differs between the databases the ledger can live in."""

    where: str  # the ledger's place, for messages (never a password)
    shared: bool  # many processes may send from it at once (claims decide who sends what)
    lock_rows: str  # appended to a SELECT that picks rows to claim, passing those others hold
    lock_own_rows: str  # appended to a SELECT of rows this process claimed: waits its turn

    def connect(self) -> Connection:
        """A connection, outside any transaction."""

    def creation(self) -> Sequence[str]:
        """Every table and index of a new ledger (IF NOT EXISTS), in this database's words."""

    def has_table(self, db: Connection, name: str) -> bool: ...

    def schema_version(self, db: Connection) -> int: ...

    def set_schema_version(self, db: Connection, version: int) -> None: ...

    def hold_for_migration(self, db: Connection) -> None:
        """Keep other processes from migrating until this transaction ends."""

    def run_lock(self, timeout: float) -> AbstractContextManager[None]: ...

    def state_token(self, db: Connection) -> str:
        """What every job reads of the ledger, digested (mailer.ledger.state_token)."""

    def counts_changes(self, db: Connection) -> bool:
        """What `state_token` reads of this backend is in place (SQLite's counting triggers)."""

    def count_changes(self, db: Connection) -> None:
        """Put in place what `state_token` reads of this backend, in this write transaction."""

    def stop_counting(self, db: Connection) -> None:
        """Take out what count_changes made, so a migration step may alter any table."""

    def zero_deleted(self, db: Connection) -> None:
        """Have this transaction's connection overwrite what it deletes, where the database can."""

    def reclaim(self, tables: Sequence[str], full: bool) -> None:
        """Clear deleted rows from where the database still keeps them (free space, its log).

        `full` after the larger removals; run outside any transaction.
        """

    def close(self) -> None: ...
