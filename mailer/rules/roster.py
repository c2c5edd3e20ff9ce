"""PURE: who holds a seat, who waits, and who must be told. No I/O, no clock of its own.

Rules:
- Signups are ordered by form timestamp, then sheet row.
- One seat per person per event: the first row of an address is the person's,
  later rows of the same address are duplicates.
- The Status cell is read against what mailer last wrote there. Its own
  value is no instruction; an organizer's `cancelled` (any spelling) frees
  the seat, `confirmed` promotes by hand (even past capacity); a word mailer
  does not know is kept, reported, and leaves the seat as it was.
- Someone told they have a seat keeps it until they are cancelled: never
  moved back to the waitlist. An overbooking is reported, nobody is bumped.
- A seat whose row is gone from the sheet is kept as it was (a missing row
  is not a cancellation).
- Free seats go to the waitlist in order, but only before the event starts.
- Each notice kind goes to a person at most once per event, and once more
  each time they are given back a place they were told they had lost: an
  organizer who confirms again someone who released their seat sends them
  a new confirmation (see `Previous.losses_told`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailer.core.text import plural
from mailer.model import Event, Signup
from mailer.rules.statuses import (
    CANCELLED,
    CONFIRMED,
    DUPLICATE,
    INVALID,
    UNKNOWN,
    WAITLISTED,
    accepted_words,
)

__all__ = ["CANCELLED", "CONFIRMED", "DUPLICATE", "INVALID", "WAITLISTED"]

CONFIRMATION = "confirmation"
WAITLIST = "waitlist"
PROMOTION = "promotion"
RELEASED = "released"  # the acknowledgement a person gets once their place is given up
SEAT_NOTICES = (CONFIRMATION, PROMOTION)


@dataclass(frozen=True, slots=True)
class RowDecision:
    """What the job writes back to one Signups row; status None leaves the row as it is."""

    status: str | None
    position: int | None = None
    note: str = ""
    problem: str = ""  # why the row is left as it is, for the organizer


@dataclass(frozen=True, slots=True)
class Seat:
    """One person's place at one event."""

    status: str  # confirmed | waitlisted | cancelled
    row: int
    position: int | None = None


def tagged(kind: str, version: int = 0) -> str:
    """How the ledger tells notices of one kind apart: the kind, and its version if any."""
    return f"{kind}-{version}" if version else kind


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
        return f"{tagged(self.kind, self.version)}:{self.event_id}:{self.email}"


@dataclass(frozen=True)
class Previous:
    """What the ledger remembers of an event, by person (normalized email)."""

    statuses: Mapping[str, str] = field(default_factory=dict)
    # (kind, email), and (kind-version, email) for a notice sent with a version
    notified: frozenset[tuple[str, str]] = frozenset()
    written: Mapping[str, str] = field(default_factory=dict)  # what mailer put in Status
    rows: Mapping[str, int] = field(default_factory=dict)  # the sheet row, last seen

    def moved(self, moves: Mapping[str, str]) -> Previous:
        """The same memory, with each old address's place under its corrected address."""
        if not moves:
            return self

        def follow(table: Mapping[str, Any]) -> dict[str, Any]:
            return {moves.get(email, email): value for email, value in table.items()}

        return Previous(
            follow(self.statuses), self.notified, follow(self.written), follow(self.rows)
        )

    def sent_count(self, kind: str, email: str, first: int = 0) -> int:
        """How many notices of a kind went to a person: `kind` (version 0), `kind-1`, `kind-2`...

        Counted from version `first`.
        """
        count = 0
        while (tagged(kind, first + count), email) in self.notified:
            count += 1
        return count

    def losses_told(self, email: str) -> int:
        """Places this person was told they gave up, less those they were told they have again.

        Each release acknowledgement is one more version of `released`; each
        confirmation after one, a version of `confirmation` from 1 on.
        """
        return self.sent_count(RELEASED, email) - self.sent_count(CONFIRMATION, email, first=1)

    def told_seat(self, email: str) -> bool:
        """Told they have a seat (a confirmation or promotion) and not cancelled since."""
        return self.statuses.get(email) != CANCELLED and any(
            (kind, email) in self.notified for kind in SEAT_NOTICES
        )


@dataclass(frozen=True)
class Plan:
    event_id: str
    seats: dict[str, Seat]  # email -> seat
    rows: dict[int, RowDecision]
    notices: list[Notice]
    warnings: list[str]
    kept: list[str] = field(default_factory=list)  # seats kept although their row is gone

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
        """What the ledger holds once this plan is committed and its statuses written."""
        sent = {(n.kind, n.email) for n in self.notices}
        sent |= {(tagged(n.kind, n.version), n.email) for n in self.notices}
        written = dict(earlier.written)
        for email, seat in self.seats.items():
            decision = self.rows.get(seat.row)
            if decision is not None and decision.status is not None:
                written[email] = decision.status
        rows = {email: seat.row for email, seat in self.seats.items()}
        return Previous(dict(self.statuses), earlier.notified | frozenset(sent), written, rows)


@dataclass
class _Person:
    signup: Signup
    status: str = ""  # decided: confirmed | waitlisted | cancelled
    in_line: bool = True  # takes a free seat in order
    problem: str = ""  # held as it was: the Status cell is left alone


def plan(
    event: Event,
    signups: Iterable[Signup],
    previous: Previous,
    now: datetime,
    passed_over: frozenset[str] = frozenset(),
) -> Plan:
    """Decide every seat of one event from its signups and what was decided before.

    `passed_over`: people who stay on the waitlist but take no free seat (an offer
    of one lapsed, see mailer.rules.claims).
    """
    ordered = sorted(signups, key=lambda s: (s.timestamp, s.row))
    people: dict[str, _Person] = {}
    rows: dict[int, RowDecision] = {}
    for signup in ordered:
        if signup.email in people:
            rows[signup.row] = _duplicate(signup, people[signup.email].signup.row)
        else:
            people[signup.email] = _read_cell(signup, previous)

    kept = {
        email: Seat(status, previous.rows.get(email, 0))
        for email, status in previous.statuses.items()
        if email not in people
    }
    confirmed = {e for e, p in people.items() if p.status == CONFIRMED}
    confirmed |= {e for e, seat in kept.items() if seat.status == CONFIRMED}
    warnings = []
    if len(confirmed) > event.capacity:
        warnings.append(
            f"{event.id}: {len(confirmed)} confirmed for {plural(event.capacity, 'seat')}; "
            "nobody is bumped"
        )
    line = [
        p
        for p in people.values()
        if p.in_line and p.status != CONFIRMED and p.signup.email not in passed_over
    ]
    if now < event.starts_at and not event.cancelled:
        for person in line:
            if len(confirmed) >= event.capacity:
                break
            person.status = CONFIRMED
            confirmed.add(person.signup.email)

    seats: dict[str, Seat] = dict(kept)
    position = 0
    for email, person in people.items():
        row = person.signup.row
        number = None
        if person.in_line and person.status != CONFIRMED:
            person.status = WAITLISTED
            position += 1
            number = position
        if person.problem:
            rows[row] = RowDecision(None, problem=person.problem)
        else:
            rows[row] = _decided(person.status, number)
        if person.status:
            seats[email] = Seat(person.status, row, number)

    told = [p for p in people.values() if not p.problem]
    notices = [] if now >= event.starts_at or event.cancelled else _notices(event, told, previous)
    return Plan(event.id, seats, rows, notices, warnings, kept=sorted(kept))


@functools.cache
def _decided(status: str, position: int | None) -> RowDecision:
    """One value per status and place, shared: a run of 10,000 rows holds a few dozen."""
    return RowDecision(status, position=position)


def _duplicate(signup: Signup, original: int) -> RowDecision:
    """A later row of the same person; a cancellation or a word typed there is left alone."""
    if signup.status in ("", DUPLICATE, INVALID, WAITLISTED):
        return RowDecision(DUPLICATE, note=f"same person as row {original}")
    return RowDecision(None, note=f"same person as row {original}")


def _read_cell(signup: Signup, previous: Previous) -> _Person:
    """What this person's Status cell asks for, read against what mailer wrote there."""
    email, cell = signup.email, signup.status
    earlier = previous.statuses.get(email)
    has_seat = earlier == CONFIRMED or previous.told_seat(email)
    if cell == UNKNOWN:
        return _Person(
            signup,
            status=earlier or "",
            in_line=False,
            problem=f"{signup.status_text!r} is not a status mailer knows ({accepted_words()});"
            " the seat is left as it was",
        )
    if earlier is not None and cell and cell == previous.written.get(email):
        cell = ""  # mailer's own word: no instruction, the ledger's decision stands
        if earlier == CANCELLED:
            return _Person(signup, status=CANCELLED, in_line=False)
    if cell == CANCELLED:
        return _Person(signup, status=CANCELLED, in_line=False)
    if cell == CONFIRMED or has_seat:
        if cell == WAITLISTED:
            return _Person(
                signup,
                status=CONFIRMED,
                in_line=False,
                problem="'waitlisted', but this person was told they have a seat; mailer never"
                " moves them back to the waitlist (type cancelled to free the seat)",
            )
        return _Person(signup, status=CONFIRMED)
    return _Person(signup)


def _given_back(email: str, previous: Previous) -> bool:
    """Confirmed now, after being told their place was given up (a release acknowledged)."""
    return previous.statuses.get(email) == CANCELLED and previous.losses_told(email) > 0


def _notices(event: Event, people: list[_Person], previous: Previous) -> list[Notice]:
    def sent(kind: str, email: str) -> bool:
        return (kind, email) in previous.notified

    notices = []
    for person in people:
        email, row, status = person.signup.email, person.signup.row, person.status
        has_seat_notice = any(sent(kind, email) for kind in SEAT_NOTICES)
        if status == CONFIRMED and not has_seat_notice:
            kind = PROMOTION if sent(WAITLIST, email) else CONFIRMATION
            notices.append(Notice(kind, event.id, email, row))
        elif status == CONFIRMED and _given_back(email, previous):
            again = previous.sent_count(CONFIRMATION, email, first=1) + 1
            notices.append(Notice(CONFIRMATION, event.id, email, row, version=again))
        elif status == WAITLISTED and not has_seat_notice and not sent(WAITLIST, email):
            notices.append(Notice(WAITLIST, event.id, email, row))
    return notices
