"""When each job last ran and how it went, kept in `state/job-runs.json` for `mailer jobs`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from mailer.core.files import atomic_write
from mailer.core.redact import redact, secrets_in
from mailer.rules.schedules import LastRun
from mailer.settings.config import JobSettings

RUNS_FILE = "job-runs.json"


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
        atomic_write(
            self.path, json.dumps(data, indent=2).encode("utf-8"), durable=False, private=True
        )
