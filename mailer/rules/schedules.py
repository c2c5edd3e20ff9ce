"""When each job is due, from its schedule and when it last ran (the run log's LastRun).

An `every` job is due when its interval has passed since its last run (or it
never ran); an `at` job when a slot has come since its last good run. Both
`mailer run` and the daemon record each run, so a restarted daemon picks up
where the schedule stands instead of starting over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from mailer.core.durations import seconds


class Schedule(Protocol):
    """A job's schedule: `every` an interval, or `at` a slot in `zone` (a JobSettings is one)."""

    @property
    def every(self) -> str: ...

    @property
    def at(self) -> str: ...

    @property
    def zone(self) -> ZoneInfo: ...


@dataclass(frozen=True)
class LastRun:
    started: datetime
    ok: bool
    summary: str


def interval(job: Schedule) -> timedelta:
    """How often the daemon looks at the job: its `every`, or each minute for an `at` slot."""
    return timedelta(seconds=seconds(job.every)) if job.every else timedelta(minutes=1)


def check_every(job: Schedule) -> timedelta:
    """How often the daemon asks whether the job is due: a tenth of its interval, 1 s to 1 min.

    Asking more often than the job runs keeps it on time when its last run began
    later than the daemon's clock expected (a slow job before it, a `mailer run`
    by hand): it is then late by one check, not by one whole interval.
    """
    tenth = interval(job) / 10
    return min(max(tenth, timedelta(seconds=1)), timedelta(minutes=1))


def is_due(job: Schedule, last: LastRun | None, now: datetime) -> bool:
    """Due when never run, when its interval has passed, or when a slot came since it last
    succeeded (a slot whose run failed is tried again at the next tick)."""
    if last is None or last.started > now:
        return True  # never ran, or the recorded run is in the future (a clock was wrong)
    if job.every:
        return now >= last.started + interval(job)
    from mailer.rules.digest import latest_slot  # slots load for an `at` job only

    return not last.ok or latest_slot(job.at, job.zone, now).starts > last.started


def next_run(job: Schedule, last: LastRun | None, now: datetime) -> datetime:
    """The moment the job is next due, as of `now` (`now` itself when it is overdue)."""
    if is_due(job, last, now):
        return now
    if job.every:
        assert last is not None
        return last.started + interval(job)
    from mailer.rules.digest import latest_slot

    slot = latest_slot(job.at, job.zone, now)
    local = slot.starts.replace(tzinfo=None) + slot.period
    return local.replace(tzinfo=slot.starts.tzinfo)
