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

from mailer.ledger.records import SeatRow
from mailer.mail.speech import ENGLISH, Speech
from mailer.model import Event
from mailer.rules import claims
from mailer.rules.self_service import CLAIM, RELEASE, SeatRef
from mailer.rules.statuses import CANCELLED, CONFIRMED, OFFERED, WAITLISTED
from mailer.web.ledgers import LedgerHandle

Page = Callable[..., Response]


def N_(message: str) -> str:
    """Marks a message for the catalogs (make translations); it is translated where shown."""
    return message


# The language a page speaks: from the link's ?lang=, else the seat's own, else the site's.
Say = Callable[[str], Speech]


@dataclass(frozen=True)
class Found:
    action: str
    seat: SeatRow
    event: Event
    done: bool  # this link was used already, or what it asks for is so already


def blueprint(
    ledgers: LedgerHandle,
    secret: str,
    page: Page,
    clock: Callable[[], datetime],
    claim_window: timedelta | None = None,
    say: Say | None = None,
) -> Blueprint:
    """The seat pages; `claim_window` is the signups job's claim_within, when set."""
    pages = Blueprint("seat", __name__)
    speak: Say = say or (lambda language: ENGLISH)

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
        words = speak("")
        _ = words.gettext
        return page(
            _("This link is not valid"),
            "<p>"
            + escape(
                _(
                    "Nothing was changed. To give up your place, reply to any email about the "
                    "session and a person will do it for you."
                )
            )
            + "</p>",
            status=404,
            words=words,
        )

    def what(found: Found) -> str:
        words = speak(found.seat.language)
        when = words.describe(found.event)["when"]
        title = found.event.title_in(words.code)
        return f"<p><strong>{escape(title)}</strong><br>{escape(when)}</p>"

    def told(found: Found, title: str, *sentences: str) -> Response:
        """A page about the seat in the person's language: the session, then what happened."""
        words = speak(found.seat.language)
        said = " ".join(escape(words.gettext(s)) for s in sentences)
        return page(words.gettext(title), f"{what(found)}<p>{said}</p>", words=words)

    def settled(found: Found) -> Response | None:
        """The answer when the button can no longer change anything."""
        if clock() >= found.event.starts_at:
            return told(
                found,
                N_("This session has started"),
                N_("Nothing was changed: places can be given up only before the session starts."),
            )
        if found.event.cancelled:
            return told(
                found,
                N_("This session is cancelled"),
                N_(
                    "Nothing was changed: the session will not take place, and an email saying so"
                    " has gone to everyone signed up."
                ),
            )
        if found.done:
            return told(
                found,
                N_("Already done"),
                N_("This place is already taken; nothing more was changed.")
                if found.action == CLAIM
                else N_("This place is already given up; nothing more was changed."),
                N_("An email confirming it is on its way, if it has not arrived yet."),
            )
        if found.action == CLAIM and offer_ended(found):
            return told(
                found,
                N_("This offer has ended"),
                N_(
                    "The seat was not claimed in time and went to the next person waiting;"
                    " nothing was changed. You are still on the waitlist."
                ),
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
        words = speak(found.seat.language)
        _ = words.gettext
        if found.action == CLAIM:
            title, button = _("Claim your seat?"), _("Claim my seat")
            effect = _("The seat held for you becomes yours.")
        elif found.seat.status in (WAITLISTED, OFFERED):
            title, button = _("Leave the waitlist?"), _("Leave the waitlist")
            effect = _("The people after you on the waitlist move up.")
        else:
            title, button = _("Release your seat?"), _("Release my seat")
            effect = _("Your seat goes to the next person waiting.")
        confirming = _("You will get an email confirming it.")
        return page(
            title,
            f"{what(found)}<p>{escape(effect)} {escape(confirming)}</p>"
            f'<form method="post"><button type="submit">{escape(button)}</button></form>',
            words=words,
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
            return told(
                found,
                N_("The seat is yours"),
                N_(
                    "Thank you. An email with the Zoom link and a calendar invitation follows"
                    " within a few minutes."
                ),
            )
        if found.seat.status in (WAITLISTED, OFFERED):
            return told(
                found,
                N_("You have left the waitlist"),
                N_("Thank you for letting us know. The people after you move up."),
                N_("An email confirming it follows within a few minutes."),
            )
        return told(
            found,
            N_("Your seat is released"),
            N_("Thank you for letting us know. It goes to the next person waiting."),
            N_("An email confirming it follows within a few minutes."),
        )

    return pages
