"""`mailer serve`'s pages for a seat's links: release a seat or leave the waitlist.

GET shows what the button will do and changes nothing (mail scanners open
links); the POST of that one button records the request in the ledger,
and the next signups run acts on it. A token mailer did not make is
refused; a second press, or a press after the session started, changes
nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

from flask import Blueprint, Response

from mailer.calendar import describe_time
from mailer.ledger import Ledger, SeatRow
from mailer.rows import Event
from mailer.self_service import RELEASE, SeatRef, seat_token
from mailer.statuses import CANCELLED, WAITLISTED

Page = Callable[..., Response]


@dataclass(frozen=True)
class Found:
    seat: SeatRow
    event: Event
    done: bool  # this link was used already, or the seat is given up


def blueprint(
    ledger_path: Path, secret: str, page: Page, clock: Callable[[], datetime]
) -> Blueprint:
    pages = Blueprint("seat", __name__)

    def find(token: str) -> Found | None:
        """The seat a genuine release token stands for."""
        with_ledger = Ledger(ledger_path)
        try:
            events = with_ledger.stored_events()
            for seat in with_ledger.seats():
                mine = seat_token(secret, RELEASE, seat.event_id, seat.email)
                if hmac.compare_digest(mine, token) and seat.event_id in events:
                    done = with_ledger.has_request(token) or seat.status == CANCELLED
                    return Found(seat, events[seat.event_id].event, done)
        finally:
            with_ledger.close()
        return None

    def refusal() -> Response:
        return page(
            "This link is not valid",
            "<p>Nothing was changed. To give up your place, reply to any email about the "
            "session and a person will do it for you.</p>",
            status=404,
        )

    def what(found: Found) -> str:
        when = describe_time(found.event)["when"]
        return f"<p><strong>{escape(found.event.title)}</strong><br>{escape(when)}</p>"

    def settled(found: Found) -> Response | None:
        """The answer when the button can no longer change anything."""
        if clock() >= found.event.starts_at:
            return page(
                "This session has started",
                f"{what(found)}<p>Nothing was changed: places can be given up only before "
                "the session starts.</p>",
            )
        if found.done:
            return page(
                "Already done",
                f"{what(found)}<p>This place is already given up; nothing more was changed. "
                "An email confirming it is on its way, if it has not arrived yet.</p>",
            )
        return None

    @pages.get("/seat/<token>")
    def ask(token: str) -> Response:
        found = find(token)
        if found is None:
            return refusal()
        answer = settled(found)
        if answer is not None:
            return answer
        if found.seat.status == WAITLISTED:
            title, button = "Leave the waitlist?", "Leave the waitlist"
            effect = "The people after you on the waitlist move up."
        else:
            title, button = "Release your seat?", "Release my seat"
            effect = "Your seat goes to the next person waiting."
        return page(
            title,
            f"{what(found)}<p>{effect} You will get an email confirming it.</p>"
            f'<form method="post"><button type="submit">{button}</button></form>',
        )

    @pages.post("/seat/<token>")
    def release(token: str) -> Response:
        found = find(token)
        if found is None:
            return refusal()
        answer = settled(found)
        if answer is not None:
            return answer
        ledger = Ledger(ledger_path)
        try:
            seat = found.seat
            ledger.add_request(token, SeatRef(RELEASE, seat.event_id, seat.email), clock(), "web")
        finally:
            ledger.close()
        left = found.seat.status == WAITLISTED
        return page(
            "You have left the waitlist" if left else "Your seat is released",
            f"{what(found)}<p>Thank you for letting us know. "
            + ("The people after you move up." if left else "It goes to the next person waiting.")
            + " An email confirming it follows within a few minutes.</p>",
        )

    return pages
