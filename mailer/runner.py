"""Runs one configured job by its kind; the CLI and the daemon both come through here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from mailer.config import JobSettings, ReminderOptions, SignupsOptions
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
        assert isinstance(job.options, SignupsOptions)
        return signups.run(site, ledger, now, send=send, progress=progress, options=job.options)
    if job.kind == "reminders":
        assert isinstance(job.options, ReminderOptions)
        return reminders.run(site, ledger, now, job.options, send=send, progress=progress)
    return digest.run(site, ledger, now, job, send=send, progress=progress)


def delivered_text(sent: Counter) -> str:
    """'12 sent, 1 to retry, 1 failed': what a send did, for people and logs."""
    parts = [f"{sent.get('sent', 0)} sent"]
    if sent.get("retry"):
        parts.append(f"{sent['retry']} to retry")
    if sent.get("failed"):
        parts.append(f"{sent['failed']} failed")
    return ", ".join(parts)


def summary(report: Report) -> str:
    """One line for logs: what was decided, sent and rejected."""
    if isinstance(report, digest.DigestReport):
        decided = report.skipped or f"{report.recipients} recipients for {report.slot}"
    else:
        decided = f"{report.decided} new"
    rejected = len(getattr(report, "problems", []))
    return f"{decided}, {delivered_text(report.delivered)}, {rejected} rows rejected"
