"""Session dates that cannot be right: problems to report, never a roster to decide.

A session that had ended before mailer first saw it, or that starts before
every one of its signups was made, has a date typed wrong or copied from an
earlier row. Planning it would waitlist everyone (no seat is given once a
session has started) and say nothing; instead its row is a problem and its
signups are left exactly as they are until the date is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mailer.model import Event, Signup


@dataclass(frozen=True)
class Doubt:
    event_id: str
    row: int
    field: str  # the events tab's logical column: "starts_at" or "ends_at"
    reason: str


def doubtful_sessions(
    events: Iterable[Event], signups: Iterable[Signup], known: set[str], now: datetime
) -> list[Doubt]:
    """The sessions whose dates cannot be right, with why; `known` are those seen before."""
    by_event: dict[str, list[Signup]] = {}
    for signup in signups:
        by_event.setdefault(signup.event_id, []).append(signup)
    doubts = []
    for event in events:
        if event.cancelled:
            continue
        mine = by_event.get(event.id, [])
        first = min((s.timestamp for s in mine), default=None)
        decided = any(s.status_text.strip() for s in mine)
        if event.id not in known and event.ends_at <= now and not decided:
            doubts.append(
                Doubt(
                    event.id,
                    event.row,
                    "starts_at",
                    f"the session had already ended ({_when(event.ends_at)}) when mailer first"
                    " saw it: a date typed wrong, or a row copied from an earlier session?",
                )
            )
        elif first is not None and first > event.starts_at:
            doubts.append(
                Doubt(
                    event.id,
                    event.row,
                    "starts_at",
                    f"the session starts ({_when(event.starts_at)}) before any of its"
                    f" {len(mine)} signups was made (the first at {_when(first)}): a date"
                    " typed wrong?",
                )
            )
    return doubts


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"
