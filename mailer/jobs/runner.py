"""Runs jobs once: under the run lock, in one ledger, each outcome kept in the run log.

`mailer run` (also with --dry-run, on the site dry_run.py makes) and the
daemon both come through here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from mailer.core.errors import ConfigError, MailerError
from mailer.jobs.base import WOULD_SEND, JobModule, Progress, Report
from mailer.jobs.monitor import FAIL, START, SUCCESS, Pinger
from mailer.jobs.organizers import Ran, after_run, failing_reason
from mailer.jobs.people import forget_asked
from mailer.jobs.retention import RETENTION, run_retention
from mailer.jobs.runlog import RunLog
from mailer.ledger import Ledger, open_ledger
from mailer.sending.delivery import deliver
from mailer.settings.config import JobSettings
from mailer.settings.kinds import KINDS
from mailer.site import Site

if TYPE_CHECKING:
    from mailer.rules.schedules import LastRun

ProgressFactory = Callable[[], AbstractContextManager[Progress | None]]
StillDue = Callable[[JobSettings, "LastRun | None"], bool]


@dataclass(eq=False, repr=False)
class Outcome:
    """How one job's run went: its report, or what stopped it."""

    job: JobSettings
    report: Report | None = None
    error: str = ""

    @property
    def failed_steps(self) -> list[str]:
        """Steps after the send that failed; what was sent before them stays sent."""
        return list(getattr(self.report, "failed_steps", []))


def job_module(kind: str) -> JobModule:
    """The module that runs `kind`, imported when a job of that kind runs."""
    return cast("JobModule", importlib.import_module(KINDS[kind].module))


def run_job(
    site: Site,
    ledger: Ledger,
    job: JobSettings,
    now: datetime,
    send: bool = True,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> Report:
    """One pass of `job` as of `now`: decide, record, deliver, write back.

    The caller holds the ledger's lock. With send=False what is decided is
    recorded and written back, and its messages are left for a later run. In
    a dry run what the transport took is counted as `would send`, not `sent`.
    """
    decision = job_module(job.kind).decide(site, ledger, job, now)
    decision.record(site, ledger)
    if send and KINDS[job.kind].sends:
        counted = deliver(ledger, site.transport, now, progress)
        if dry_run:
            counted[WOULD_SEND] = counted.pop("sent", 0)
        decision.report.delivered = counted
    decision.write_back(site, ledger)
    return decision.report


def run_jobs(
    site: Site,
    jobs: Iterable[JobSettings],
    now: datetime,
    send: bool = True,
    record: bool = True,
    progress: ProgressFactory = lambda: nullcontext(None),
    ledger: Ledger | None = None,
    still_due: StillDue | None = None,
    dry_run: bool = False,
    lock_timeout: float | None = None,
    notify: bool = False,
    retention: bool = False,
) -> Iterator[Outcome]:
    """Each job once, in order, under the ledger's run lock; one job's trouble leaves the others.

    With `still_due`, a job is run only if it is still due once the lock is
    held (another daemon may have run it meanwhile); `lock_timeout` overrides
    how long to wait for the lock. A MailerError or ConfigError (the sheet
    unreachable, say) becomes a failed Outcome; anything else is recorded as a
    crash and raised. With `notify`, the Mailer tab and the organizers hear
    what needs them (mailer.jobs.organizers) and `[monitor] ping_url` is
    pinged as the run starts and ends. With `retention`, what `[privacy]` no
    longer allows is removed after the jobs (mailer.jobs.retention), as one
    more outcome.
    """
    monitor = site.settings.monitor
    pinger = Pinger(monitor.ping_url if notify else "", monitor.timeout)
    with nullcontext(ledger) if ledger is not None else open_ledger(site.settings) as opened:
        assert opened is not None
        runs = RunLog(opened, site.state)
        wait = site.settings.ledger.lock_timeout if lock_timeout is None else lock_timeout
        with opened.run_lock(wait):
            due = [
                job
                for job in jobs
                if still_due is None or still_due(job, runs.read().get(job.name))
            ]
            if not due:
                return
            pinger.ping(START)
            ran: list[Ran] = []
            for job in due:
                try:
                    outcome = _run_one(
                        site, opened, runs, job, now, send, record, progress, dry_run
                    )
                except Exception:
                    pinger.ping(FAIL)
                    raise
                ran.append(Ran(job.name, report=outcome.report, error=outcome.error))
                yield outcome
            if retention:
                kept = run_retention(site, opened, now, dry_run)
                kept.forgotten = forget_asked(site, opened, now, dry_run)
                if record:
                    runs.record(RETENTION, now, True, kept.summary())
                ran.append(Ran(RETENTION.name, report=kept))  # the Mailer tab shows what went
                yield Outcome(RETENTION, kept)
            if notify:
                after_run(site, opened, ran, now, send)
    failed = any(failing_reason(r) or getattr(r.report, "failed_steps", []) for r in ran)
    pinger.ping(FAIL if failed else SUCCESS)


def _run_one(
    site: Site,
    ledger: Ledger,
    runs: RunLog,
    job: JobSettings,
    now: datetime,
    send: bool,
    record: bool,
    progress: ProgressFactory,
    dry_run: bool,
) -> Outcome:
    try:
        with progress() as shown:
            report = run_job(site, ledger, job, now, send, shown, dry_run)
    except (MailerError, ConfigError) as err:
        if record:
            runs.record(job, now, False, str(err))
        return Outcome(job, error=str(err))
    except Exception:
        if record:
            runs.record(job, now, False, "crashed")
        raise
    if record:
        runs.record(job, now, True, report.summary())
    return Outcome(job, report)
