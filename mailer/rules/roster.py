"""PURE: who holds a seat, who waits, and who must be told. No I/O, no clock of its own.

Rules:
- Signups are ordered by form timestamp, then sheet row.
- One seat per person per event: the first row of an address is the person's,
  later rows of the same address are duplicates.
- A person keeps a seat once confirmed; an organizer's `cancelled` frees it,
  an organizer's `confirmed` on a row not yet confirmed promotes by hand
  (even past capacity).
- Free seats go to the waitlist in order, but only before the event starts.
- Each notice kind goes to a person at most once per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mailer.rows import Event, Signup
from mailer.text import plural

CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
CANCELLED = "cancelled"
DUPLICATE = "duplicate"
INVALID = "invalid"

CONFIRMATION = "confirmation"
WAITLIST = "waitlist"
PROMOTION = "promotion"
SEAT_NOTICES = (CONFIRMATION, PROMOTION)


@dataclass(frozen=True, slots=True)
class RowDecision:
    """What the job writes back to one Signups row."""

    status: str
    position: int | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Seat:
    """One person's place at one event."""

    status: str  # confirmed | waitlisted | cancelled
    row: int
    position: int | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    event_id: str
    email: str
    row: int
    version: int = 0  # for notices that may recur, such as the update after each change

    @property
    def key(self) -> str:
        """The idempotency key: one message per kind (and version), event and person."""
        kind = f"{self.kind}-{self.version}" if self.version else self.kind
        return f"{kind}:{self.event_id}:{self.email}"


@dataclass(frozen=True)
class Previous:
    """What the ledger remembers of an event: each person's last status and notices sent."""

    statuses: Mapping[str, str] = field(default_factory=dict)
    notified: frozenset[tuple[str, str]] = frozenset()  # (kind, email)


@dataclass(frozen=True)
class Plan:
    event_id: str
    seats: dict[str, Seat]  # email -> seat
    rows: dict[int, RowDecision]
    notices: list[Notice]
    warnings: list[str]

    @property
    def statuses(self) -> dict[str, str]:
        return {email: seat.status for email, seat in self.seats.items()}

    @property
    def confirmed(self) -> int:
        return sum(1 for s in self.seats.values() if s.status == CONFIRMED)

    @property
    def waitlisted(self) -> int:
        return sum(1 for s in self.seats.values() if s.status == WAITLISTED)

    def as_previous(self, earlier: Previous = Previous()) -> Previous:
        """What the ledger holds once this plan is committed."""
        sent = {(n.kind, n.email) for n in self.notices}
        return Previous(dict(self.statuses), earlier.notified | frozenset(sent))


def plan(event: Event, signups: Iterable[Signup], previous: Previous, now: datetime) -> Plan:
    """Decide every seat of one event from its signups and what was decided before."""
    ordered = sorted(signups, key=lambda s: (s.timestamp, s.row))
    first_row: dict[str, Signup] = {}
    rows: dict[int, RowDecision] = {}
    for signup in ordered:
        if signup.email in first_row:
            original = first_row[signup.email].row
            rows[signup.row] = RowDecision(DUPLICATE, note=f"same person as row {original}")
        else:
            first_row[signup.email] = signup

    started = now >= event.starts_at
    statuses: dict[str, str] = {}
    active = []
    for email, signup in first_row.items():
        if signup.status == CANCELLED:
            statuses[email] = CANCELLED
        else:
            active.append(signup)

    confirmed = {
        s.email
        for s in active
        if previous.statuses.get(s.email) == CONFIRMED or s.status == CONFIRMED
    }
    warnings = []
    if len(confirmed) > event.capacity:
        warnings.append(
            f"{event.id}: {len(confirmed)} confirmed for {plural(event.capacity, 'seat')}; "
            "nobody is bumped"
        )
    if not started and not event.cancelled:
        for signup in active:
            if len(confirmed) >= event.capacity:
                break
            confirmed.add(signup.email)

    position = 0
    for signup in active:
        if signup.email in confirmed:
            statuses[signup.email] = CONFIRMED
            rows[signup.row] = RowDecision(CONFIRMED)
        else:
            position += 1
            statuses[signup.email] = WAITLISTED
            rows[signup.row] = RowDecision(WAITLISTED, position=position)
    for email, status in statuses.items():
        if status == CANCELLED:
            rows[first_row[email].row] = RowDecision(CANCELLED)

    seats = {
        email: Seat(status, first_row[email].row, rows[first_row[email].row].position)
        for email, status in statuses.items()
    }
    notices = [] if started or event.cancelled else _notices(event, active, statuses, previous)
    return Plan(event.id, seats, rows, notices, warnings)


def _notices(
    event: Event, active: list[Signup], statuses: dict[str, str], previous: Previous
) -> list[Notice]:
    def sent(kind: str, email: str) -> bool:
        return (kind, email) in previous.notified

    notices = []
    for signup in active:
        email = signup.email
        has_seat_notice = any(sent(kind, email) for kind in SEAT_NOTICES)
        if statuses[email] == CONFIRMED and not has_seat_notice:
            kind = PROMOTION if sent(WAITLIST, email) else CONFIRMATION
            notices.append(Notice(kind, event.id, email, signup.row))
        elif statuses[email] == WAITLISTED and not has_seat_notice and not sent(WAITLIST, email):
            notices.append(Notice(WAITLIST, event.id, email, signup.row))
    return notices
