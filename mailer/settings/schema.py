"""The workbook's tabs and columns: default names and headers, what is required, how dates read.

The one description that config (defaults and [workbook] mapping checks), the
row parser (required columns), the Google workbook (date columns) and
`mailer check` all read. Headers are defaults: mailer.toml maps any of them
elsewhere under [workbook.columns.<tab>]. A column and a tab are NamedTuples,
cheaper to define than frozen dataclasses: every command loads the settings.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

# How a date-time cell reads: an instant stamped by a form in the sheet's zone, a
# wall-clock time in the event's own zone, or a plain date.
DateKind = Literal["instant", "wall", "date"]


class Column(NamedTuple):
    header: str
    required: bool = False
    date: DateKind | None = None


class Tab(NamedTuple):
    columns: dict[str, Column]
    # What `mailer check` makes of a workbook without the tab: the jobs cannot run
    # ("error"), a job goes without it ("warning"), or most sites have none ("fine").
    missing: Literal["error", "warning", "fine"] = "warning"


def _columns(*names: str, **special: Column) -> dict[str, Column]:
    return {name: special.get(name, Column(name)) for name in names}


TABS: dict[str, Tab] = {
    "events": Tab(
        _columns(
            "id", "title", "label", "starts_at", "ends_at", "timezone", "capacity",
            "join_url", "signup_url", "status", "waitlist",
            id=Column("id", required=True),
            title=Column("title", required=True),
            starts_at=Column("starts_at", required=True, date="wall"),
            ends_at=Column("ends_at", required=True, date="wall"),
            capacity=Column("capacity", required=True),
        ),
        missing="error",
    ),
    "signups": Tab(
        {
            "timestamp": Column("Timestamp", required=True, date="instant"),
            "email": Column("Email Address", required=True),
            "name": Column("Name"),
            "pronouns": Column("Pronouns"),
            "member": Column("Are you a member of the network?"),
            "event": Column("Which session?", required=True),
            "digest": Column("Send me the resource digest"),
            "status": Column("Status"),
            "position": Column("Position"),
            "notified": Column("Notified"),
            "note": Column("Note"),
            "session": Column("Session id"),
            "language": Column("Preferred language"),
        },
        missing="error",
    ),
    "members": Tab(_columns("email", "name", email=Column("email", required=True))),
    "resources": Tab(
        _columns(
            "title", "url", "category", "description", "audience", "added_on", "sent_in",
            "language",
            title=Column("title", required=True),
            url=Column("url", required=True),
            category=Column("category", required=True),
            added_on=Column("added_on", date="date"),
            sent_in=Column("Sent in digest"),
        )
    ),
    "subscribers": Tab(
        _columns(
            "email", "name", "subscribed_on", "unsubscribed_on", "language",
            email=Column("email", required=True),
            subscribed_on=Column("subscribed_on", date="date"),
            unsubscribed_on=Column("unsubscribed_on", date="date"),
        )
    ),
    "series": Tab(
        _columns(
            "id", "title", "weekday", "start_time", "end_time", "timezone", "capacity",
            "join_url", "signup_url", "starts_on", "ends_on", "weeks",
            id=Column("id", required=True),
            weekday=Column("weekday", required=True),
            start_time=Column("start_time", required=True),
            end_time=Column("end_time", required=True),
            capacity=Column("capacity", required=True),
        ),
        missing="fine",  # most sites list their sessions by hand
    ),
    "releases": Tab(
        {
            "timestamp": Column("Timestamp", date="instant"),
            "token": Column("token", required=True),
        },
        # read only where seat links open the release form; then it should be there
    ),
}  # fmt: skip

DEFAULT_TABS: dict[str, str] = {tab: tab for tab in TABS}
# Logical field -> the header it is found under unless mailer.toml maps it elsewhere.
DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    tab: {name: column.header for name, column in spec.columns.items()}
    for tab, spec in TABS.items()
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    tab: tuple(name for name, column in spec.columns.items() if column.required)
    for tab, spec in TABS.items()
}
DATE_FIELDS: dict[str, dict[str, DateKind]] = {
    tab: {name: column.date for name, column in spec.columns.items() if column.date}
    for tab, spec in TABS.items()
    if any(column.date for column in spec.columns.values())
}
