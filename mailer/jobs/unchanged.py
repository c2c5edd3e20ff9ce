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

Those moments follow from the other inputs, so they are kept with the
report: a pass whose other inputs are the same reads them there, and only a
pass that plans in full parses the sessions to find them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailer.sessions import Event

if TYPE_CHECKING:
    from mailer.model import Problem
    from mailer.sheet.workbook import Table

JOB_NAME = "signups"  # the fingerprint is kept per job kind: one signups pass per site
VERSION = b"mailer signups fingerprint 3"
CELL, ROW = "\x1f", "\x1e"  # between cells, between rows: a tab's rows hashed as one text


def inputs(
    settings: object,
    job: object,
    tables: Mapping[str, Table],
    ledger_state: str,
    secret: str = "",
) -> bytes:
    """One digest of everything a signups run decides from but the clock."""
    digest = hashlib.sha256(VERSION)
    digest.update(repr((settings, job)).encode("utf-8"))
    for name in sorted(tables):
        table = tables[name]
        about = (table.tab, table.header, sorted(table.broken.items()), table.date_order)
        digest.update(repr(about).encode("utf-8", "surrogatepass"))
        digest.update(_rows_text(table.rows).encode("utf-8", "surrogatepass"))
    digest.update(ledger_state.encode("ascii"))
    digest.update(hashlib.sha256(secret.encode("utf-8")).digest())
    return digest.digest()


def fingerprint(inputs: bytes, moments: Iterable[datetime], now: datetime) -> str:
    """The inputs' digest with which side of each moment `now` falls."""
    digest = hashlib.sha256(inputs)
    digest.update(bytes(moment <= now for moment in sorted(moments)))
    return digest.hexdigest()


def _rows_text(rows: Sequence[Sequence[str]]) -> str:
    """The rows as one text that no other rows make: 10,000 rows in 2 ms, where repr took 7.

    Cells are joined by CELL and rows by ROW, after each row's length (so an
    empty row and a row of one empty cell differ) and the text's own (so what
    follows it cannot be read as part of it); where a cell holds either
    separator itself, the rows' repr, tagged, is the text instead.
    """
    lengths = [len(row) for row in rows]
    text = ROW.join([CELL.join(row) for row in rows])
    joins = max(len(rows) - 1, 0) + sum(lengths) - (len(lengths) - lengths.count(0))
    if text.count(ROW) + text.count(CELL) != joins:
        return "repr" + repr(rows)
    return f"{lengths!r}{len(text)}:{text}"


Shown = tuple[Event, int, int, Counter[str]]  # a session, confirmed, waitlisted, new emails


def report_data(
    shown: Iterable[Shown],
    problems: Iterable[Problem],
    warnings: list[str],
    moments: Iterable[datetime],
) -> str:
    """What a run that changed nothing reported, and its moments, for the runs it spares."""
    return json.dumps(
        {
            "events": [[e.id, e.sheet_id, c, w, dict(new)] for e, c, w, new in shown],
            "problems": [dataclasses.asdict(p) for p in problems],
            "warnings": warnings,
            "moments": [moment.isoformat() for moment in sorted(moments)],
        }
    )


def kept_moments(data: str) -> list[datetime]:
    """The moments the run that changed nothing decided around."""
    return [datetime.fromisoformat(moment) for moment in json.loads(data).get("moments", [])]


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
    return shown, _problems(kept["problems"]), list(kept["warnings"])


def _problems(kept: list[dict[str, Any]]) -> list[Problem]:
    if not kept:
        return []
    from mailer.model import Problem  # the rows' model loads for a run with problems to show

    return [Problem(**p) for p in kept]
