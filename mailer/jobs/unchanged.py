"""An unchanged workbook costs a read and a comparison: the fingerprint of a run's inputs.

A signups run that changed nothing (it decided, sent and wrote nothing, and
left the ledger as it found it) keeps the fingerprint of what it decided
from, with what it reported. The next run whose inputs have the same
fingerprint would change nothing again: it reports the same and stops there.
The inputs are every tab read, the settings and the job's options, the
ledger's state (`Ledger.state_token`), the secret that signs seat links, and
which side of each moment a decision turns on `now` falls: each session's
start and end, each offer's claim window, each release answer's time. Any
run that changes something forgets the fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from mailer.model import Event, Problem
from mailer.sheet.workbook import Table

if TYPE_CHECKING:
    from mailer.jobs.signups import SignupsReport

VERSION = b"mailer signups fingerprint 1"


def fingerprint(
    settings: object,
    job: object,
    tables: Mapping[str, Table],
    ledger_state: str,
    moments: Iterable[datetime],
    now: datetime,
    secret: str = "",
) -> str:
    """One digest of everything a signups run decides from."""
    digest = hashlib.sha256(VERSION)
    digest.update(repr((settings, job)).encode("utf-8"))
    for name in sorted(tables):
        table = tables[name]
        rows = (table.tab, table.header, table.rows, sorted(table.broken.items()), table.date_order)
        digest.update(repr(rows).encode("utf-8", "surrogatepass"))
    digest.update(ledger_state.encode("ascii"))
    digest.update(hashlib.sha256(secret.encode("utf-8")).digest())
    digest.update(bytes(moment <= now for moment in sorted(moments)))
    return digest.hexdigest()


def changed_nothing(report: SignupsReport) -> bool:
    """The run decided, sent and wrote nothing (the ledger is compared apart)."""
    return not (
        report.decided
        or sum(report.delivered.values())
        or report.cells_written
        or report.skipped_writes
        or report.adopted
        or report.series_added
        or report.form is not None
        or report.requests
        or report.failed_steps
    )


def report_data(report: SignupsReport) -> str:
    """What a run that changed nothing reported, to be reported again by the runs it spares."""
    return json.dumps(
        {
            "events": [
                [e.event.id, e.event.sheet_id, e.confirmed, e.waitlisted, dict(e.new_messages)]
                for e in report.events
            ],
            "problems": [dataclasses.asdict(p) for p in report.problems],
            "warnings": report.warnings,
        }
    )


def restore(report: SignupsReport, data: str, stored: Mapping[str, Event]) -> bool:
    """Fill `report` as the run that changed nothing reported; False if a session is gone."""
    from mailer.jobs.signups import EventSummary

    kept = json.loads(data)
    events = []
    for event_id, sheet_id, confirmed, waitlisted, new in kept["events"]:
        if event_id not in stored:
            return False
        event = dataclasses.replace(stored[event_id], sheet_id=sheet_id)
        events.append(EventSummary(event, confirmed, waitlisted, Counter(new)))
    report.events = events
    report.problems = [Problem(**p) for p in kept["problems"]]
    report.warnings = list(kept["warnings"])
    return True
