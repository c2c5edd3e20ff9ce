"""The SQLite ledger's file: made private, plain sqlite3 connections to it, and its run lock.

The plain reads (mailer.ledger.sqlite_reads) and the store's backend
(mailer.ledger.sqlite) both connect here: a SQLite ledger, read or written,
costs no more than the stdlib `sqlite3`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mailer.core.errors import LockedError
from mailer.core.files import private_folder


class SqliteFile:
    """One ledger file; its connection is opened when first asked for."""

    def __init__(self, path: Path):
        self.path = Path(path)
        private_folder(self.path.parent)
        # Addresses and names live here: only the owner may read it (SQLite gives
        # the -wal and -shm files the same mode).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))

    def connect(self, read_only: bool = False) -> sqlite3.Connection:
        """A new plain connection, which commits by itself unless the caller says BEGIN.

        A read-only one leaves the -wal and -shm files in place when it closes
        last (a writer's last close removes them), so `mailer status` and a run
        that only reads create and delete no files.
        """
        where = f"file:{quote(str(self.path))}?mode=ro" if read_only else str(self.path)
        return sqlite3.connect(
            where, timeout=30, isolation_level=None, check_same_thread=False, uri=read_only
        )

    @contextmanager
    def run_lock(self, timeout: float) -> Iterator[None]:
        """Hold the lock file beside the ledger; wait up to `timeout` seconds for another run.

        An fcntl lock: the kernel frees it when the process that held it dies.
        """
        lock_path = self.path.with_suffix(".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockedError(
                            f"another mailer run holds {lock_path}; it is still running after "
                            f"{timeout:g}s (try again later)"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)


def use_wal(dbapi_connection: Any, patience: float = 30.0) -> None:
    """Switch to WAL, waiting for others doing the same on a new ledger.

    SQLite answers "database is locked" at once, without its busy timeout,
    when another connection is changing the journal mode at that moment.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
