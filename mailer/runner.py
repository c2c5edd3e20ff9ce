"""Runs jobs once: under the run lock, in one ledger, each outcome kept in the run log.

`mailer run` and the daemon both come through here. A dry run goes the same
way against a copy of the ledger, a workbook that drops its writes and a
transport that keeps messages in memory: it decides what would go out at
that moment and writes, sends and uses up nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mailer.config import JobSettings
from mailer.delivery import deliver
from mailer.errors import ConfigError, MailerError
from mailer.jobs import job_module
from mailer.jobs.base import Progress, Report, send_nothing
from mailer.ledger import Ledger, locked
from mailer.runlog import RunLog
from mailer.site import Site
from mailer.tokens import LOCAL_SECRET
from mailer.transports.memory import MemoryTransport
from mailer.workbook import Table, Workbook, WritePlan
from mailer.workbook.base import plan_writes

ProgressFactory = Callable[[], AbstractContextManager[Progress | None]]


@dataclass
class Outcome:
    """How one job's run went: its report, or what stopped it."""

    job: JobSettings
    report: Report | None = None
    error: str = ""


def run_job(
    site: Site,
    ledger: Ledger,
    job: JobSettings,
    now: datetime,
    send: bool = True,
    progress: Progress | None = None,
) -> Report:
    """One pass of `job` as of `now`; the caller holds the ledger's lock."""

    def sending() -> Counter[str]:
        return deliver(ledger, site.transport, now, progress)

    return job_module(job.kind).run(site, ledger, job, now, sending if send else send_nothing)


def run_jobs(
    site: Site,
    jobs: Iterable[JobSettings],
    now: datetime,
    send: bool = True,
    record: bool = True,
    progress: ProgressFactory = lambda: nullcontext(None),
) -> Iterator[Outcome]:
    """Each job once, in order, under the lock; one job's trouble leaves the others to run.

    A MailerError or ConfigError (the sheet unreachable, say) becomes a failed
    Outcome; anything else is recorded as a crash and raised.
    """
    runs = RunLog(site.ledger_path.parent)
    with (
        locked(site.ledger_path, site.settings.ledger.lock_timeout),
        Ledger(site.ledger_path) as ledger,
    ):
        for job in jobs:
            try:
                with progress() as shown:
                    report = run_job(site, ledger, job, now, send, shown)
            except (MailerError, ConfigError) as err:
                if record:
                    runs.record(job, now, False, str(err))
                yield Outcome(job, error=str(err))
                continue
            except Exception:
                if record:
                    runs.record(job, now, False, "crashed")
                raise
            if record:
                runs.record(job, now, True, report.summary())
            yield Outcome(job, report)


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
