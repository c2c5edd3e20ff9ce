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

from mailer.model import Event, Problem
from mailer.sheet.workbook import Table

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


Shown = tuple[Event, int, int, Counter[str]]  # a session, confirmed, waitlisted, new emails


def report_data(shown: Iterable[Shown], problems: Iterable[Problem], warnings: list[str]) -> str:
    """What a run that changed nothing reported, to be reported again by the runs it spares."""
    return json.dumps(
        {
            "events": [[e.id, e.sheet_id, c, w, dict(new)] for e, c, w, new in shown],
            "problems": [dataclasses.asdict(p) for p in problems],
            "warnings": warnings,
        }
    )


def restore(
    data: str, stored: Mapping[str, Event]
) -> tuple[list[Shown], list[Problem], list[str]] | None:
    """What the run that changed nothing reported; None if a session it showed is gone."""
    kept = json.loads(data)
    shown: list[Shown] = []
    for event_id, sheet_id, confirmed, waitlisted, new in kept["events"]:
        if event_id not in stored:
            return None
        event = dataclasses.replace(stored[event_id], sheet_id=sheet_id)
        shown.append((event, confirmed, waitlisted, Counter(new)))
    return shown, [Problem(**p) for p in kept["problems"]], list(kept["warnings"])
