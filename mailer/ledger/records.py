"""What the ledger hands out and takes in: message states, seat and message rows, decisions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailer.mail.message import FAILED, RETRY, SENT, UNKNOWN, Draft
from mailer.rules.adoption import Adopted
from mailer.rules.changes import StoredEvent

PENDING = "pending"
# Committed before a message is handed to the transport; one still there when its
# holder is gone (the run was killed, its lease ran out) becomes UNKNOWN.
SENDING = "sending"
SKIPPED = "skipped"
BOUNCE = "bounce"


@dataclass(frozen=True)
class SeatRow:
    event_id: str
    email: str
    status: str
    position: int | None
    row: int
    address: str = ""
    name: str = ""
    written: str = ""  # what mailer last put in the Status cell
    language: str = ""  # the language the person's emails speak ("": the site's default)


@dataclass
class Decisions:
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


@dataclass(frozen=True)
class MessageRow:
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


@dataclass(frozen=True)
class BounceRow:
    """One bounce or complaint read from the sending mailbox, as the ledger keeps it."""

    email: str
    kind: str  # hard, soft, complaint (mailer.rules.bounces)
    status: str
    diagnostic: str
    message_key: str
    at: str


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
]
