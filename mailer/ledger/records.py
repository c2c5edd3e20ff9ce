"""What the ledger hands out and takes in: message states, seat and message rows, decisions.

The rows and Decisions are NamedTuples: every command that reads the ledger
defines them, and a dataclass costs several times as much to define (its
methods are compiled from source one by one), which `mailer status` would pay
at each start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from mailer.mail.states import FAILED, RETRY, SENT, UNKNOWN
from mailer.sessions import Event, StoredEvent

if TYPE_CHECKING:
    from mailer.mail.message import Draft
    from mailer.rules.adoption import Adopted

PENDING = "pending"
# Committed before a message is handed to the transport; one still there when its
# holder is gone (the run was killed, its lease ran out) becomes UNKNOWN.
SENDING = "sending"
CHUNK = 500  # rows per statement when a list of values goes into an IN (...) or an insert
DEFAULT_LEASE = 600.0  # seconds a claim holds before another process may call it unknown
SKIPPED = "skipped"
BOUNCE = "bounce"


class SeatRow(NamedTuple):
    event_id: str
    email: str
    status: str
    position: int | None
    row: int
    address: str = ""
    name: str = ""
    written: str = ""  # what mailer last put in the Status cell
    language: str = ""  # the language the person's emails speak ("": the site's default)


class Decisions(NamedTuple):
    """What one signups run decided, committed at once."""

    events: Sequence[StoredEvent] = ()
    seats: Sequence[SeatRow] = ()
    drafts: Iterable[Draft] = ()
    bindings: Sequence[tuple[str, str, str]] = ()  # (stamp, email, event id)
    names: Sequence[tuple[str, str]] = ()  # (an id or label, event id)
    aliases: Sequence[tuple[str, str]] = ()  # (id on the sheet, ledger id)
    adopted: Sequence[Adopted] = ()
    missing: Sequence[str] = ()  # ledger ids of sessions no longer on the events tab
    applied: Sequence[tuple[str, datetime]] = ()  # (token, when) of requests acted on


class MessageRow(NamedTuple):
    key: str
    kind: str
    event_id: str
    email: str
    state: str
    reason: str
    attempts: int
    created_at: str
    sent_at: str | None
    provider_id: str = ""


class BounceRow(NamedTuple):
    """One bounce or complaint read from the sending mailbox, as the ledger keeps it."""

    email: str
    kind: str  # hard, soft, complaint (mailer.rules.bounces)
    status: str
    diagnostic: str
    message_key: str
    at: str


def stored_event(row: Sequence[Any]) -> tuple[str, StoredEvent]:
    """(id, session) from a row of the events table, its columns in the order created."""
    event_id, title, label, starts, ends, zone, capacity, join, signup, status = row[:10]
    event = Event(
        id=event_id,
        title=title,
        label=label,
        starts_at=datetime.fromisoformat(starts).astimezone(ZoneInfo(zone)),
        ends_at=datetime.fromisoformat(ends).astimezone(ZoneInfo(zone)),
        timezone=zone,
        capacity=capacity,
        join_url=join,
        signup_url=signup,
        status=status,
        titles=tuple(sorted(json.loads(row[12] or "{}").items())),
    )
    return event_id, StoredEvent(event, row[10], missing=bool(row[11]))


__all__ = [
    "BOUNCE",
    "FAILED",
    "PENDING",
    "RETRY",
    "SENDING",
    "SENT",
    "SKIPPED",
    "UNKNOWN",
    "BounceRow",
    "Decisions",
    "MessageRow",
    "SeatRow",
    "stored_event",
]
