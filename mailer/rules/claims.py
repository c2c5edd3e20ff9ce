"""PURE: a freed seat offered for a while, when the signups job has `claim_within` set.

Rules:
- A seat the roster would give to someone on the waitlist is offered to them
  instead: the seat is held (`offered`), they get one `offer` email with a
  link to claim it, and the sheet shows until when.
- Claimed before the offer ends, the seat is theirs: they get the promotion
  email with the invitation, as without a window.
- Unclaimed when the window ends, or when the session starts (whichever
  comes first), the offer lapses: they stay on the waitlist, take no free
  seat again, and the seat passes to the next person, who gets an offer.
- An organizer's `confirmed` on a waitlisted row is a promotion by hand: it
  confirms at once, window or not, and an open offer stays open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta

from mailer.model import Event
from mailer.rules.roster import PROMOTION, Notice, Plan, RowDecision, Seat
from mailer.rules.statuses import CONFIRMED, OFFERED, WAITLISTED

OFFER = "offer"  # the email that offers a freed seat for a while
UNTIL_FORMAT = "%a %b %d %H:%M"
OFFER_NOTE = "seat offered until "


def until(event: Event, offered_at: datetime, window: timedelta) -> datetime:
    """When an offer made at `offered_at` ends: after the window, and never after the start."""
    return min(offered_at + window, event.starts_at)


def lapsed(
    event: Event,
    offers: Mapping[str, datetime],
    claimed: set[str],
    statuses: Mapping[str, str],
    window: timedelta,
    now: datetime,
) -> frozenset[str]:
    """People whose offer ended unclaimed: they take no free seat again (`roster.plan`)."""
    return frozenset(
        email
        for email, at in offers.items()
        if statuses.get(email) != CONFIRMED
        and email not in claimed
        and now >= until(event, at, window)
    )


@dataclasses.dataclass(frozen=True)
class Held:
    plan: Plan
    until: dict[str, datetime]  # email -> when the offer ends, for each seat on offer


def hold(
    event: Event,
    plan: Plan,
    offers: Mapping[str, datetime],
    claimed: set[str],
    by_hand: set[str],
    holding: set[str],
    window: timedelta,
    now: datetime,
) -> Held:
    """The roster's plan with each promotion turned into an offer, unless claimed or by hand.

    `offers` are the offers made before (email -> when), `claimed` the people
    who claimed theirs, `by_hand` those an organizer confirmed, `holding` those
    whose offer is still open: their seat stays held whatever else happened.
    """
    seats, rows = dict(plan.seats), dict(plan.rows)
    notices: list[Notice] = []
    ends: dict[str, datetime] = {}

    def offer(email: str) -> None:
        ends[email] = until(event, offers.get(email, now), window)
        row = seats[email].row
        seats[email] = Seat(OFFERED, row)
        rows[row] = RowDecision(OFFERED)

    for notice in plan.notices:
        email = notice.email
        if notice.kind != PROMOTION or email in claimed or email in by_hand:
            notices.append(notice)
            continue
        offer(email)
        if email not in offers:
            notices.append(Notice(OFFER, event.id, email, seats[email].row))
    for email in holding:
        if email in seats and seats[email].status == WAITLISTED:
            offer(email)
    _renumber(seats, rows)
    held = dataclasses.replace(plan, seats=seats, rows=rows, notices=notices)
    return Held(held, ends)


def _renumber(seats: dict[str, Seat], rows: dict[int, RowDecision]) -> None:
    """Waitlist places 1, 2, 3... again, in the order the roster gave them."""
    waiting = sorted(
        (seat.position, email)
        for email, seat in seats.items()
        if seat.status == WAITLISTED and seat.position
    )
    for place, (_, email) in enumerate(waiting, start=1):
        seat = seats[email]
        seats[email] = Seat(WAITLISTED, seat.row, place)
        if rows.get(seat.row) is not None and rows[seat.row].status == WAITLISTED:
            rows[seat.row] = dataclasses.replace(rows[seat.row], position=place)


def until_text(ends: datetime) -> str:
    """'Tue Nov 24 21:05', in the zone `ends` is in (the session's)."""
    return f"{ends:{UNTIL_FORMAT}}"


def offer_note(ends: datetime) -> str:
    """The Note of a row whose seat is on offer: until when."""
    return f"{OFFER_NOTE}{until_text(ends)}"
