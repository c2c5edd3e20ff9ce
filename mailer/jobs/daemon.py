"""`mailer daemon`: every enabled job on its schedule, one at a time, until SIGTERM or SIGINT.

The `schedule` package ticks; whether a job is due is decided from the run
log (in the ledger) and the job's own rules, checked again under the ledger's
run lock, so a restart catches up and nothing runs twice for one slot, however
many daemons share the ledger. On a shared ledger (PostgreSQL) each daemon
also helps send what is queued, claiming messages row by row. A job that
raises is logged and the daemon goes on; a signal lets the running job
finish, then the daemon exits.
It writes a heartbeat in the state folder as it goes, which `mailer health` reads.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import schedule

from mailer.core.errors import LockedError
from mailer.jobs.heartbeat import BEAT_EVERY, Beat, write_beat
from mailer.jobs.retention import NOTHING_REMOVED
from mailer.jobs.runlog import RunLog
from mailer.jobs.runner import run_jobs
from mailer.ledger import open_ledger
from mailer.rules.schedules import check_every, is_due
from mailer.sending.delivery import deliver
from mailer.settings.config import JobSettings, Settings
from mailer.site import Site

log = logging.getLogger("mailer.daemon")
HELP_EVERY = 2  # seconds between looks at a shared ledger's queue


class Daemon:
    def __init__(
        self,
        settings: Settings,
        jobs: list[JobSettings],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings = settings
        self.jobs = [job for job in jobs if job.enabled]
        self.clock = clock
        self.site = Site.from_settings(settings)
        self.ledger = open_ledger(settings)  # migrated here, at start
        self.runs = RunLog(self.ledger, self.site.state)
        self.state_folder = self.site.state
        self.last_beat: datetime | None = None
        self.stopping = threading.Event()
        self.scheduler = schedule.Scheduler()
        for job in self.jobs:
            every = int(check_every(job).total_seconds())
            self.scheduler.every(every).seconds.do(self.tick, job)
        if self.ledger.shared:
            self.scheduler.every(HELP_EVERY).seconds.do(self.help_send)

    def help_send(self) -> None:
        """Send what another daemon's job queued, beside it; never raises."""
        if self.stopping.is_set():
            return
        try:
            if self.ledger.count_due():
                outcome = deliver(self.ledger, self.site.transport, self.clock())
                log.info("helped send: %s", dict(outcome))
        except Exception:
            log.exception("helping to send crashed")

    def tick(self, job: JobSettings) -> None:
        """Run `job` if it is due; never raises, so `schedule` keeps it scheduled."""
        if self.stopping.is_set():
            return
        try:
            self._run_if_due(job)
        except Exception:  # the run log could not be read or written, say
            log.exception("%s: crashed outside the job", job.name)

    def _run_if_due(self, job: JobSettings) -> None:
        now = self.clock()
        if not is_due(job, self.runs.read().get(job.name), now):
            return
        self.beat(now, job=job.name)
        started = time.monotonic()
        try:
            outcomes = list(
                run_jobs(
                    self.site,
                    [job],
                    now,
                    ledger=self.ledger,
                    still_due=lambda job, last: is_due(job, last, now),
                    # On a shared ledger another daemon holds the lock: help it send
                    # meanwhile, and look again at the next tick.
                    lock_timeout=0 if self.ledger.shared else None,
                    notify=True,
                    retention=True,
                )
            )
        except LockedError as err:
            if self.ledger.shared:
                log.info("%s: another daemon is running a job; looking again soon", job.name)
            else:
                log.warning("%s: skipped, %s", job.name, err)
            return
        except Exception:
            log.exception("%s: crashed after %.1f s", job.name, time.monotonic() - started)
            return
        if not outcomes:
            log.info("%s: another daemon ran it", job.name)
            return
        outcome, *after = outcomes
        took = time.monotonic() - started
        if outcome.report is None:
            log.error("%s: failed after %.1f s: %s", job.name, took, outcome.error)
        else:
            log.info("%s: %s, %.1f s", job.name, outcome.report.summary(), took)
        for kept in after:
            if kept.report is not None and kept.report.summary() != NOTHING_REMOVED:
                log.info("retention: %s", kept.report.summary())

    def run(self) -> None:
        """Catch up on every due job, then follow the schedules until asked to stop."""
        names = ", ".join(f"{j.name} ({j.schedule_text})" for j in self.jobs) or "none"
        log.info("daemon started; jobs: %s", names)
        for job in self.jobs:
            self.tick(job)
        while not self.stopping.is_set():
            self.beat(self.clock())
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            self.stopping.wait(timeout=max(0.05, min(idle if idle is not None else 1.0, 1.0)))
        self.beat(self.clock(), stopped=True)
        self.ledger.close()
        log.info("daemon stopped")

    def beat(self, now: datetime, job: str = "", stopped: bool = False) -> None:
        """Write the heartbeat `mailer health` reads; when idle, at most every BEAT_EVERY."""
        idle = not job and not stopped
        if idle and self.last_beat is not None and now - self.last_beat < BEAT_EVERY:
            return
        try:
            write_beat(self.state_folder, Beat(now, os.getpid(), job, stopped))
        except OSError as err:
            log.warning("could not write the heartbeat: %s", err)
        # After a job, the next idle beat is written at once: it says the job ended.
        self.last_beat = None if job else now

    def stop(self, signum: int, frame: object) -> None:
        if self.stopping.is_set():
            raise SystemExit(128 + signum)
        log.info("%s received; finishing the running job", signal.Signals(signum).name)
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
