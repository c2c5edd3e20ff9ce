"""The domain's values: sessions, signups, resources, subscribers, and a problem with a row.

Plain frozen dataclasses that every room may hold; they know nothing of
the sheet they were read from, the ledger or the mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


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


@dataclass(frozen=True)
class Event:
    id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    capacity: int
    join_url: str = ""
    signup_url: str = ""
    label: str = ""
    status: str = ""
    row: int = 0
    sheet_id: str = ""  # the id as the events tab shows it now, when renamed from `id`
    waitlist: bool | None = None  # whether the signup form offers it once full ([form] waitlist)
    titles: tuple[tuple[str, str], ...] = ()  # (language, title) from `title_<code>` columns

    def title_in(self, language: str) -> str:
        """The session's title in a language, its own title where the sheet gives none."""
        return dict(self.titles).get(language) or self.title

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def shown_id(self) -> str:
        """The id organizers see on the events tab."""
        return self.sheet_id or self.id


@dataclass(frozen=True)
class StoredEvent:
    """An event as the last run saw it, and how many times its time or link changed."""

    event: Event
    sequence: int = 0
    missing: bool = False  # its row is gone from the events tab: nothing is sent about it


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
