"""PURE: what the sheet shows was already sent, when the ledger has no record of it.

The ledger is mailer's memory, not the only truth. When it is new, lost, or
restored from an older copy, a Signups row whose Status says `confirmed` or
`waitlisted` and whose Notified cell holds a time the ledger does not know
(nothing recorded for that person, or only earlier emails) was told so:
that email is adopted as sent, never sent again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailer.model import Signup
from mailer.rules.roster import CONFIRMATION, PROMOTION, RELEASED, WAITLIST, Previous
from mailer.rules.statuses import (
    CANCELLED,
    CONFIRMED,
    DUPLICATE,
    INVALID,
    UNKNOWN,
    WAITLISTED,
)

NOTIFIED_FORMAT = "%Y-%m-%d %H:%M"
NOTIFIED = "notified"  # an email of a kind the sheet does not say went out at that time


@dataclass(frozen=True)
class Adopted:
    """A message the sheet shows went out, which the ledger had no record of."""

    kind: str
    event_id: str
    email: str
    at: datetime
    place: str = ""  # the status a row mailer cannot read held, as its Position showed

    @property
    def key(self) -> str:
        if self.kind == NOTIFIED:
            return f"{NOTIFIED}-{self.at:%Y%m%dT%H%M}:{self.event_id}:{self.email}"
        return f"{self.kind}:{self.event_id}:{self.email}"


def notified_text(sent_at: datetime, zone: ZoneInfo) -> str:
    """How the Notified column shows when the last email went: local time, to the minute."""
    return sent_at.astimezone(zone).strftime(NOTIFIED_FORMAT)


def read_notified(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        local = datetime.strptime(text.strip()[:16], NOTIFIED_FORMAT)
    except ValueError:
        return None
    return local.replace(tzinfo=zone)


def adopt(
    event_id: str,
    signups: Iterable[Signup],
    previous: Previous,
    last_sent: Mapping[tuple[str, str], str],
    zone: ZoneInfo,
) -> list[Adopted]:
    """The emails these rows show as sent that the ledger does not hold.

    The seat or waitlist notice the Status implies when the ledger has none (a
    word mailer does not know stands for the place Position shows: a number on
    the waitlist, blank with a seat); for a cancelled row, its acknowledgement;
    otherwise a `notified` mark at that time, which tells the reminders that
    something (a reminder, say) reached the person then.
    """
    adopted = []
    for signup in signups:
        told_at = read_notified(signup.notified, zone)
        if told_at is None or signup.status in ("", DUPLICATE, INVALID):
            continue
        email = signup.email
        sent = last_sent.get((event_id, email))
        if sent is None and email in previous.statuses:
            continue  # a place the ledger holds but never wrote to: an address corrected since
        if sent is not None and told_at <= _minute(datetime.fromisoformat(sent)):
            continue  # the sheet knows nothing the ledger does not: an organizer's edit
        place = ""
        status = signup.status
        if status == UNKNOWN and email not in previous.statuses:
            place = status = WAITLISTED if signup.position.strip() else CONFIRMED
        kind = _kind(status, email, previous)
        adopted.append(Adopted(kind, event_id, email, told_at.astimezone(UTC), place))
    return adopted


def _kind(status: str, email: str, previous: Previous) -> str:
    def told(*kinds: str) -> bool:
        return any((kind, email) in previous.notified for kind in kinds)

    if status == CONFIRMED and not told(CONFIRMATION, PROMOTION):
        return CONFIRMATION
    if status == WAITLISTED and not told(CONFIRMATION, PROMOTION, WAITLIST):
        return WAITLIST
    if status == CANCELLED and not told(RELEASED):
        return RELEASED
    return NOTIFIED


def with_adopted(previous: Previous, adopted: Iterable[Adopted]) -> Previous:
    """The ledger's memory with what the sheet showed: the emails, and places held as typed."""
    adopted = list(adopted)
    if not adopted:
        return previous
    told = frozenset((a.kind, a.email) for a in adopted)
    places = {a.email: a.place for a in adopted if a.place}
    return dataclasses.replace(
        previous,
        notified=previous.notified | told,
        statuses={**previous.statuses, **places},
    )


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
