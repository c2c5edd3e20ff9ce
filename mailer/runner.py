"""Runs one configured job by its kind; the CLI and the daemon both come through here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mailer.config import JobSettings, ReminderOptions
from mailer.jobs import digest, reminders, signups
from mailer.ledger import Ledger
from mailer.site import Site

Report = signups.SignupsReport | reminders.RemindersReport | digest.DigestReport


def run_job(
    site: Site,
    ledger: Ledger,
    job: JobSettings,
    now: datetime,
    send: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """One pass of `job` as of `now`; the caller holds the ledger's lock."""
    if job.kind == "signups":
        return signups.run(site, ledger, now, send=send, progress=progress)
    if job.kind == "reminders":
        assert isinstance(job.options, ReminderOptions)
        return reminders.run(site, ledger, now, job.options, send=send, progress=progress)
    return digest.run(site, ledger, now, job, send=send, progress=progress)
