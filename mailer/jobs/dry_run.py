"""A dry run: the jobs decide as of a moment, and nothing is written, sent or used up.

The site is the real one with three things swapped: a scratch copy of the
ledger (so digest slots and reminders are used up only in the copy), a
workbook that is read as it is and whose writes are planned and dropped,
and a transport that keeps the messages in memory for people to read.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mailer.core.tokens import LOCAL_SECRET
from mailer.ledger.sqlite import locked
from mailer.sending.transports.memory import MemoryTransport
from mailer.sheet.backends import Table, Workbook, WritePlan
from mailer.sheet.workbook import plan_writes
from mailer.site import Site


class DroppedWrites:
    """A workbook read as it is, whose writes are planned and then dropped."""

    def __init__(self, workbook: Workbook):
        self.workbook = workbook

    def describe(self) -> str:
        return self.workbook.describe()

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        return self.workbook.read(tabs)

    def write(self, tab: str, *changes: Any, **columns: Any) -> WritePlan:
        """What Workbook.write would do to the tab as it is now (same arguments); done: nothing."""
        return plan_writes(self.workbook.read([tab])[tab], *changes, **columns)

    def append(self, tab: str, records: Sequence[dict[str, str]]) -> int:
        """How many rows Workbook.append would add; adds none."""
        return len(records)

    def replace(self, tab: str, rows: Sequence[Sequence[str]], height: int = 0) -> None:
        """Writes nothing."""


@contextmanager
def dry_run(site: Site) -> Iterator[tuple[Site, MemoryTransport]]:
    """The site with a scratch copy of its ledger, writes dropped and mail kept in memory."""
    with tempfile.TemporaryDirectory(prefix="mailer-dry-run-") as tmp:
        state = Path(tmp)
        if site.ledger_path.exists():
            with locked(site.ledger_path, site.settings.ledger.lock_timeout):
                copy_ledger(site.ledger_path, state / site.ledger_path.name)
        secret = site.ledger_path.parent / LOCAL_SECRET
        if secret.exists():
            shutil.copyfile(secret, state / LOCAL_SECRET)
        settings = site.settings
        scratch = dataclasses.replace(
            settings,
            ledger=dataclasses.replace(settings.ledger, path=state / site.ledger_path.name),
        )
        transport = MemoryTransport()
        # forms=None: the signup form is left as it is
        yield Site(scratch, DroppedWrites(site.workbook), transport, site.renderer), transport


def copy_ledger(path: Path, copy: Path) -> None:
    """A copy of the ledger with its write-ahead log, if any; the original is only read.

    Copied under the run lock, so no run writes it meanwhile.
    """
    for suffix in ("", "-wal"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
