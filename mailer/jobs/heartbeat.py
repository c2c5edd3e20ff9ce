"""The daemon's heartbeat: a small file in the state folder that `mailer health` reads.

The daemon writes it from its loop (at most every few seconds), when a job
starts, and once more when it stops. A beat names the job running, if any, so
a long digest is told apart from a daemon that hangs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from mailer.core.files import atomic_write

HEARTBEAT = "daemon-heartbeat.json"
# How often the idle loop rewrites the file; `mailer health --max-age` must allow more.
BEAT_EVERY = timedelta(seconds=10)
MAX_AGE = timedelta(minutes=2)
MAX_JOB = timedelta(hours=1)


@dataclass(frozen=True)
class Beat:
    at: datetime
    pid: int
    job: str = ""  # the job that started at `at`, while it runs
    stopped: bool = False


def write_beat(folder: Path, beat: Beat) -> None:
    data = {"at": beat.at.isoformat(), "pid": beat.pid, "job": beat.job, "stopped": beat.stopped}
    atomic_write(folder / HEARTBEAT, json.dumps(data).encode(), durable=False)


def read_beat(folder: Path) -> Beat | None:
    """The last beat, or None when no daemon has written one (or it cannot be read)."""
    try:
        data = json.loads((folder / HEARTBEAT).read_text(encoding="utf-8"))
        return Beat(
            at=datetime.fromisoformat(data["at"]),
            pid=int(data["pid"]),
            job=str(data.get("job", "")),
            stopped=bool(data.get("stopped", False)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def verdict(
    beat: Beat | None, now: datetime, max_age: timedelta = MAX_AGE, max_job: timedelta = MAX_JOB
) -> tuple[bool, str]:
    """(healthy, one line saying why) for a beat read at `now`."""
    if beat is None:
        return False, "unhealthy: no heartbeat: the daemon has not started (mailer daemon)"
    age = now - beat.at
    if beat.stopped:
        return False, f"unhealthy: the daemon stopped {_span(age)} ago"
    if beat.job:
        if age > max_job:
            return False, (
                f"unhealthy: {beat.job} has run for {_span(age)}, more than {_span(max_job)}"
            )
        return True, f"ok: the daemon is running {beat.job} (for {_span(age)})"
    if age > max_age:
        return False, (
            f"unhealthy: the last heartbeat was {_span(age)} ago, more than {_span(max_age)}: "
            "the daemon is stuck or gone"
        )
    return True, f"ok: the daemon is waiting for its next job (heartbeat {_span(age)} ago)"


def _span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
