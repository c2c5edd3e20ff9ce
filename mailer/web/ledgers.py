"""The ledger `mailer serve` answers from: one opened at start, shared by the server's threads.

Its connection pool gives each thread a connection of its own, so a page costs
a query, not a connection. On SQLite the file is checked before each use: a
ledger restored or rebuilt under another inode is opened again, so nothing is
written to a file that is no longer there. A shared PostgreSQL ledger needs
no such care, and any number of copies of `mailer serve` may use it.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from mailer.ledger import Ledger, open_ledger
from mailer.settings.config import SQLITE_URL


class LedgerHandle:
    def __init__(self, where: Ledger | Path | str):
        self.lock = threading.Lock()
        self.path: Path | None = None
        if isinstance(where, Path) or (isinstance(where, str) and where.startswith(SQLITE_URL)):
            self.path = Path(str(where).removeprefix(SQLITE_URL))
        self.where = where
        self.ledger = where if not isinstance(where, Path | str) else open_ledger(where)
        self.identity = self._identity()

    def _identity(self) -> tuple[int, int, bool] | None:
        """Which file the path names now (a folder in its place may reuse the inode)."""
        if self.path is None:
            return None
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (found.st_dev, found.st_ino, stat.S_ISREG(found.st_mode))

    def get(self) -> Ledger:
        """The ledger, opened again when its SQLite file was replaced."""
        if self.path is None or self._identity() == self.identity:
            return self.ledger
        with self.lock:
            if self._identity() != self.identity:
                self.ledger.close()
                self.ledger = open_ledger(self.path)
                self.identity = self._identity()
        return self.ledger
