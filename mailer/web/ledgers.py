"""One open ledger per server thread, so a page costs a query, not a connection.

Opening the SQLite ledger costs milliseconds (the schema check, and closing
the last connection checkpoints the journal); a page's own query costs
microseconds. Each thread keeps its connection and opens it again when
the file at the path is another one (a ledger restored or rebuilt), so
nothing is written to a file that is no longer there.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from mailer.ledger.sqlite import Ledger


class ThreadLedgers:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.local = threading.local()

    def get(self) -> Ledger:
        """This thread's ledger, opened on first use or when the file was replaced."""
        try:
            stat = os.stat(self.path)
            identity: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            identity = None
        held: tuple[Ledger, tuple[int, int] | None] | None = getattr(self.local, "held", None)
        if held is not None and identity is not None and held[1] == identity:
            return held[0]
        if held is not None:
            held[0].close()
        ledger = Ledger(self.path)
        stat = os.stat(self.path)
        self.local.held = (ledger, (stat.st_dev, stat.st_ino))
        return ledger
