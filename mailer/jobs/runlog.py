"""When each job last ran and how it went: kept in the ledger, so every daemon sees every run.

A site upgraded from a version that kept `state/job-runs.json` still has
those runs read from there until each job has run once since.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.redact import redact, secrets_in
from mailer.ledger import Ledger
from mailer.settings.config import JobSettings

if TYPE_CHECKING:
    from mailer.rules.schedules import LastRun

RUNS_FILE = "job-runs.json"


class RunLog:
    """When each job last ran and how it went."""

    def __init__(self, ledger: Ledger, state_folder: Path):
        self.ledger = ledger
        self.path = Path(state_folder) / RUNS_FILE

    def read(self) -> dict[str, LastRun]:
        return {**self._from_file(), **self.ledger.job_runs()}

    def _from_file(self) -> dict[str, LastRun]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        from mailer.rules.schedules import LastRun  # the schedules load where runs are read

        return {
            name: LastRun(datetime.fromisoformat(run["started"]), run["ok"], run["summary"])
            for name, run in data.items()
        }

    def record(self, job: JobSettings, started: datetime, ok: bool, summary: str) -> None:
        # `mailer jobs` shows the summary, and a failure's may quote an address
        self.ledger.record_job_run(
            job.name, started.astimezone(UTC), ok, redact(summary, secrets_in())
        )
