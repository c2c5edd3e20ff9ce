"""When each job is due, from its schedule and when it last ran (kept in `state/job-runs.json`).

An `every` job is due when its interval has passed since its last run (or it
never ran); an `at` job when a slot has come since its last good run. Both
`mailer run` and the daemon record each run, so a restarted daemon picks up
where the schedule stands instead of starting over.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailer.config import JobSettings
from mailer.digest import latest_slot
from mailer.durations import seconds
from mailer.files import atomic_write
from mailer.redact import redact, secrets_in

RUNS_FILE = "job-runs.json"


@dataclass(frozen=True)
class LastRun:
    started: datetime
    ok: bool
    summary: str


class RunLog:
    """When each job last ran and how it went."""

    def __init__(self, state_folder: Path):
        self.path = Path(state_folder) / RUNS_FILE

    def read(self) -> dict[str, LastRun]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {
            name: LastRun(datetime.fromisoformat(run["started"]), run["ok"], run["summary"])
            for name, run in data.items()
        }

    def record(self, job: JobSettings, started: datetime, ok: bool, summary: str) -> None:
        runs = self.read()
        # `mailer jobs` shows the summary, and a failure's may quote an address
        runs[job.name] = LastRun(started.astimezone(UTC), ok, redact(summary, secrets_in()))
        data = {
            name: {**asdict(run), "started": run.started.isoformat()} for name, run in runs.items()
        }
        atomic_write(self.path, json.dumps(data, indent=2).encode("utf-8"), durable=False)


def interval(job: JobSettings) -> timedelta:
    """How often the daemon looks at the job: its `every`, or each minute for an `at` slot."""
    return timedelta(seconds=seconds(job.every)) if job.every else timedelta(minutes=1)


def check_every(job: JobSettings) -> timedelta:
    """How often the daemon asks whether the job is due: a tenth of its interval, 1 s to 1 min.

    Asking more often than the job runs keeps it on time when its last run began
    later than the daemon's clock expected (a slow job before it, a `mailer run`
    by hand): it is then late by one check, not by one whole interval.
    """
    tenth = interval(job) / 10
    return min(max(tenth, timedelta(seconds=1)), timedelta(minutes=1))


def is_due(job: JobSettings, last: LastRun | None, now: datetime) -> bool:
    """Due when never run, when its interval has passed, or when a slot came since it last
    succeeded (a slot whose run failed is tried again at the next tick)."""
    if last is None or last.started > now:
        return True  # never ran, or the recorded run is in the future (a clock was wrong)
    if job.every:
        return now >= last.started + interval(job)
    return not last.ok or latest_slot(job.at, job.zone, now).starts > last.started


def next_run(job: JobSettings, last: LastRun | None, now: datetime) -> datetime:
    """The moment the job is next due, as of `now` (`now` itself when it is overdue)."""
    if is_due(job, last, now):
        return now
    if job.every:
        assert last is not None
        return last.started + interval(job)
    slot = latest_slot(job.at, job.zone, now)
    local = slot.starts.replace(tzinfo=None) + slot.period
    return local.replace(tzinfo=slot.starts.tzinfo)
