"""A session as the events tab describes it (Event), and as the ledger keeps it (StoredEvent).

Part of the domain's values (mailer.model names them too), in a module of
their own: the ledger's reads hand them out, and `mailer status` reads the
ledger alone, so it defines these two dataclasses and none of the signups'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    """A session: one row of the events tab, its times in its own zone."""

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
