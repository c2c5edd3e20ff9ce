"""The domain's values: sessions, signups, resources, subscribers, and a problem with a row.

Plain frozen dataclasses that every room may hold; they know nothing of
the sheet they were read from, the ledger or the mail. Sessions (Event,
StoredEvent) are defined in mailer.sessions, so what reads only the ledger
(`mailer status`) defines none of the others, and are named here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mailer.sessions import Event, StoredEvent


@dataclass(frozen=True, slots=True)
class Problem:
    tab: str
    row: int
    column: str
    reason: str
    fatal: bool = True
    value: str = ""  # the cell as the sheet holds it, when one cell is the problem

    def __str__(self) -> str:
        column = f", column {self.column!r}" if self.column else ""
        return f"{self.tab} row {self.row}{column}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Signup:
    row: int
    key: tuple[str, str]
    timestamp: datetime
    email: str
    address: str
    name: str
    event_id: str
    member: bool = False
    pronouns: str = ""
    digest: bool = False
    status: str = ""  # the Status cell's meaning (mailer.rules.statuses), "" when blank
    status_text: str = ""  # the Status cell as typed
    notified: str = ""  # the Notified cell as the sheet holds it
    position: str = ""  # the Position cell: a number while on the waitlist
    language: str = ""  # the "Preferred language" answer as typed

    @property
    def identity(self) -> tuple[str, str]:
        """What makes a form answer the same answer across edits: when, and who."""
        return (self.timestamp.isoformat(), self.email)

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0] if self.name else ""


def normalize_email(address: str) -> str:
    """The form people compare addresses in: trimmed and case-folded."""
    folded = address.strip().casefold()
    return address if folded == address else folded


@dataclass(frozen=True)
class Resolution:
    event_id: str | None  # None: the answer names no session
    held: str = ""  # why the row is left alone: its session is not on the events tab
    held_id: str = ""  # the session a held row belongs to, when known


@dataclass(frozen=True, slots=True)
class Resource:
    row: int
    title: str
    url: str
    category: str
    description: str = ""
    audience: str = ""
    added_on: date | None = None
    sent_in: str = ""  # which digests carried it, as the Resources tab says
    language: str = ""  # the language it is written in ("": for every reader)

    @property
    def key(self) -> str:
        """What identifies a resource across runs: its link."""
        return self.url


@dataclass(frozen=True, slots=True)
class Subscriber:
    row: int
    key: tuple[str]
    email: str
    address: str
    name: str = ""
    unsubscribed: bool = False
    language: str = ""  # the language column as typed


__all__ = [
    "Event",
    "Problem",
    "Resolution",
    "Resource",
    "Signup",
    "StoredEvent",
    "Subscriber",
    "normalize_email",
]
