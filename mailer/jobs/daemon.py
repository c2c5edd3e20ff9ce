"""`mailer daemon`: every enabled job on its schedule, one at a time, until SIGTERM or SIGINT.

The `schedule` package ticks; whether a job is due is decided from the run
log (`state/job-runs.json`) and the job's own rules, so a restart catches up
and nothing runs twice for one slot. A job that raises is logged and the
daemon goes on; a signal lets the running job finish, then the daemon exits.
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
from mailer.rules.schedules import check_every, is_due
from mailer.settings.config import JobSettings, Settings
from mailer.site import Site

log = logging.getLogger("mailer.daemon")


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
        self.state_folder = settings.ledger.path.parent
        self.runs = RunLog(self.state_folder)
        self.last_beat: datetime | None = None
        self.stopping = threading.Event()
        self.scheduler = schedule.Scheduler()
        for job in self.jobs:
            every = int(check_every(job).total_seconds())
            self.scheduler.every(every).seconds.do(self.tick, job)

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
            outcome, kept = run_jobs(self.site, [job], now, notify=True, retention=True)
        except LockedError as err:
            log.warning("%s: skipped, %s", job.name, err)
            return
        except Exception:
            log.exception("%s: crashed after %.1f s", job.name, time.monotonic() - started)
            return
        took = time.monotonic() - started
        if outcome.report is None:
            log.error("%s: failed after %.1f s: %s", job.name, took, outcome.error)
        else:
            log.info("%s: %s, %.1f s", job.name, outcome.report.summary(), took)
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
