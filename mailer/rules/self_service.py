"""People manage their own seat: the signed links in their emails, and what an answer does.

A link names one seat (an event and a person) and one action, signed with
MAILER_SECRET; it carries no address. The ledger keeps a hash of each seat's
tokens, indexed, so a token is found in one query (a made-up one costs no
more than a real one) and then checked against its signature; a token
works as long as its seat is in the ledger, rebuilt from the sheet or not.
An answer reaches mailer either through `mailer serve` (a page with one
button) or through a Google Form whose answers land in the `releases` tab;
either way it becomes a request in the ledger, acted on once by the next
signups run.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from mailer.rules.answers import FORM as FORM  # how answers arrive: light for an unchanged run
from mailer.rules.answers import SERVER as SERVER
from mailer.rules.answers import way as way
from mailer.rules.changes import EventChange
from mailer.rules.roster import CONFIRMATION, RELEASED, Notice, Plan, Previous
from mailer.rules.statuses import CANCELLED, CONFIRMED, OFFERED, WAITLISTED

RELEASE = "release"  # give up a seat, or a place on the waitlist
CLAIM = "claim"  # take a seat offered from the waitlist
ACTIONS = (RELEASE, CLAIM)
PLACES = (CONFIRMED, OFFERED, WAITLISTED)  # what a release gives up
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
NOTE_FORMAT = "released by the person on %Y-%m-%d"
NOTE_SHAPE = re.compile(r"released by the person on \d{4}-\d{2}-\d{2}")


def seat_token(secret: str, action: str, event_id: str, email: str) -> str:
    message = f"seat:{action}:{event_id}:{email}".encode()
    digest = hmac.digest(secret.encode(), message, "sha256")
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def token_lookup(token: str) -> str:
    """The key the ledger finds a token's seat by: a hash, so the ledger holds no working link."""
    return hashlib.sha256(f"seat-token:{token}".encode()).hexdigest()


def signer_id(secret: str) -> str:
    """Names the secret that signed a lookup, so a new MAILER_SECRET indexes every seat again."""
    return hmac.new(secret.encode(), b"seat-token-signer", hashlib.sha256).hexdigest()[:16]


def seat_lookups(
    secret: str, seats: Iterable[tuple[str, str]]
) -> Iterator[tuple[str, str, str, str, str]]:
    """(lookup, signer, action, event id, email) for each action's link to each seat."""
    signer = signer_id(secret)
    for event_id, email in seats:
        for action in ACTIONS:
            token = seat_token(secret, action, event_id, email)
            yield token_lookup(token), signer, action, event_id, email


def genuine_for(secret: str, token: str, ref: SeatRef) -> bool:
    """The token is the one mailer signs for this seat and action (compared in constant time)."""
    return hmac.compare_digest(seat_token(secret, ref.action, ref.event_id, ref.email), token)


@dataclass(frozen=True)
class SeatRef:
    """What a genuine token stands for."""

    action: str
    event_id: str
    email: str


def find_token(text: str) -> str:
    """The token in a form answer: as pasted, or inside a whole link; '' if none."""
    found = TOKEN_SHAPE.findall(text.strip())
    return found[-1] if found else ""


@dataclass(frozen=True)
class SeatLinks:
    """Makes the links of one site's emails."""

    secret: str
    public_url: str = ""
    form_url: str = ""

    def url(self, action: str, event_id: str, email: str) -> str:
        token = seat_token(self.secret, action, event_id, email)
        if self.public_url:
            return f"{self.public_url.rstrip('/')}/seat/{token}"
        return f"{self.form_url}{token}"


@dataclass(frozen=True)
class Request:
    """A person's answer, as the ledger holds it until a run acts on it."""

    token: str
    action: str
    event_id: str
    email: str
    at: datetime


def with_requests(previous: Previous, requests: Iterable[Request]) -> Previous:
    """The seats given up by these requests, as cancelled in what the roster reads.

    A Status cell that still holds mailer's own word then follows the
    ledger's `cancelled`; an organizer's word in the cell still wins.
    """
    statuses = dict(previous.statuses)
    for request in requests:
        if request.action == RELEASE and statuses.get(request.email) in PLACES:
            statuses[request.email] = CANCELLED
    return dataclasses.replace(previous, statuses=statuses)


def acknowledgements(
    plan: Plan,
    before: Previous,
    requested: set[str],
    organizer_too: bool,
    open_for_notices: bool,
) -> list[Notice]:
    """One acknowledgement to each person whose seat or waitlist place was given up.

    `before` is the ledger as it was before this run's requests; `requested` the
    people who asked; with `organizer_too` an organizer's cancel is acknowledged too.
    """
    if not open_for_notices:
        return []
    notices = []
    for email, seat in plan.seats.items():
        had = before.statuses.get(email)
        if seat.status != CANCELLED or had not in PLACES:
            continue
        if email not in requested and not organizer_too:
            continue
        if before.losses_told(email) > 0:
            continue  # told already (a restored ledger may not know), and not given it back
        # A place given back (an organizer confirmed them again) may be given up again:
        # each acknowledgement is the next version, never a repeat of one that went.
        told = before.sent_count(RELEASED, email)
        notices.append(Notice(RELEASED, plan.event_id, email, seat.row, version=told))
    return notices


def release_note(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime(NOTE_FORMAT)


def is_release_note(text: str) -> bool:
    """The Note mailer writes as a release is acted on, not a word an organizer typed."""
    return NOTE_SHAPE.fullmatch(text.strip()) is not None


def with_room_for_reinvitation(change: EventChange, plan: Plan) -> EventChange:
    """A SEQUENCE above any CANCEL a release sent, when someone who released is confirmed again.

    A release's CANCEL goes out at the event's SEQUENCE + 1 (see emails.py); a
    calendar that holds it ignores an invitation at that SEQUENCE or a lower one.
    """
    if any(n.kind == CONFIRMATION and n.version for n in plan.notices):
        return dataclasses.replace(change, sequence=change.sequence + 2)
    return change
