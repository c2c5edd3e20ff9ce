"""`mailer serve`'s pages for a seat's links: release a seat, leave the waitlist, claim an offer.

GET shows what the button will do and changes nothing (mail scanners open
links); the POST of that one button records the request in the ledger,
and the next signups run acts on it. A token mailer did not make is
refused; a second press, or a press after the session started, changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from flask import Blueprint, Response

from mailer.ledger.sqlite import SeatRow
from mailer.mail.invitations import describe_time
from mailer.model import Event
from mailer.rules import claims
from mailer.rules.self_service import CLAIM, RELEASE, SeatRef
from mailer.rules.statuses import CANCELLED, CONFIRMED, OFFERED, WAITLISTED
from mailer.web.ledgers import ThreadLedgers

Page = Callable[..., Response]


@dataclass(frozen=True)
class Found:
    action: str
    seat: SeatRow
    event: Event
    done: bool  # this link was used already, or what it asks for is so already


def blueprint(
    ledgers: ThreadLedgers,
    secret: str,
    page: Page,
    clock: Callable[[], datetime],
    claim_window: timedelta | None = None,
) -> Blueprint:
    """The seat pages; `claim_window` is the signups job's claim_within, when set."""
    pages = Blueprint("seat", __name__)

    def offer_ended(found: Found) -> bool:
        if found.seat.status != OFFERED:
            return True
        if claim_window is None:
            return False
        made = (
            ledgers.get()
            .sent_at((claims.OFFER,))
            .get((claims.OFFER, found.event.id, found.seat.email))
        )
        if made is None:
            return False
        return clock() >= claims.until(found.event, datetime.fromisoformat(made), claim_window)

    def find(token: str) -> Found | None:
        """The seat and action a genuine token stands for: found by index, never by a scan."""
        ledger = ledgers.get()
        ref = ledger.seat_for_token(secret, token)
        seat = ref and ledger.seat(ref.event_id, ref.email)
        stored = seat and ledger.stored_events().get(seat.event_id)
        if not (ref and seat and stored):
            return None
        already = CANCELLED if ref.action == RELEASE else CONFIRMED
        done = ledger.has_open_request(token) or seat.status == already
        return Found(ref.action, seat, stored.event, done)

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
        if found.event.cancelled:
            return page(
                "This session is cancelled",
                f"{what(found)}<p>Nothing was changed: the session will not take place, and "
                "an email saying so has gone to everyone signed up.</p>",
            )
        if found.done:
            done = "taken" if found.action == CLAIM else "given up"
            return page(
                "Already done",
                f"{what(found)}<p>This place is already {done}; nothing more was changed. "
                "An email confirming it is on its way, if it has not arrived yet.</p>",
            )
        if found.action == CLAIM and offer_ended(found):
            return page(
                "This offer has ended",
                f"{what(found)}<p>The seat was not claimed in time and went to the next person "
                "waiting; nothing was changed. You are still on the waitlist.</p>",
            )
        return None

    def open_seat(token: str) -> Found | Response:
        """The seat a genuine, still actionable token names, or the page that says why not."""
        found = find(token)
        if found is None:
            return refusal()
        return settled(found) or found

    @pages.get("/seat/<token>")
    def ask(token: str) -> Response:
        found = open_seat(token)
        if isinstance(found, Response):
            return found
        if found.action == CLAIM:
            title, button = "Claim your seat?", "Claim my seat"
            effect = "The seat held for you becomes yours."
        elif found.seat.status in (WAITLISTED, OFFERED):
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
        found = open_seat(token)
        if isinstance(found, Response):
            return found
        seat = found.seat
        ref = SeatRef(found.action, seat.event_id, seat.email)
        ledgers.get().add_request(token, ref, clock(), "web")
        if found.action == CLAIM:
            return page(
                "The seat is yours",
                f"{what(found)}<p>Thank you. An email with the Zoom link and a calendar "
                "invitation follows within a few minutes.</p>",
            )
        left = found.seat.status in (WAITLISTED, OFFERED)
        return page(
            "You have left the waitlist" if left else "Your seat is released",
            f"{what(found)}<p>Thank you for letting us know. "
            + ("The people after you move up." if left else "It goes to the next person waiting.")
            + " An email confirming it follows within a few minutes.</p>",
        )

    return pages
