"""PURE: the words a Status cell may hold, and what an organizer means by them.

mailer writes `confirmed`, `waitlisted`, `cancelled`, `duplicate`,
`invalid`, and `offered` when seats are offered for a while. Organizers
type instructions in the same cell: a cancellation in any common spelling
frees the seat, `confirmed` promotes by hand. Anything else is kept as
typed, reported, and changes nothing.
"""

from __future__ import annotations

import re

CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
CANCELLED = "cancelled"
OFFERED = "offered"  # a freed seat held for someone on the waitlist to claim (mailer.rules.claims)
DUPLICATE = "duplicate"
INVALID = "invalid"
UNKNOWN = "?"  # a value mailer does not understand: kept as typed, acted on as "no change"

SYNONYMS: dict[str, tuple[str, ...]] = {
    CANCELLED: (
        "cancelled",
        "canceled",
        "cancel",
        "cancelling",
        "canceling",
        "cancellation",
        "withdrawn",
        "withdraw",
        "withdrew",
        "released",
        "declined",
        "not coming",
    ),
    CONFIRMED: ("confirmed", "confirm", "confirmed by hand"),
    WAITLISTED: ("waitlisted", "waitlist", "wait list", "wait listed", "waiting list", "waiting"),
    OFFERED: ("offered",),
    DUPLICATE: ("duplicate",),
    INVALID: ("invalid",),
}
WORDS = {spelling: status for status, spellings in SYNONYMS.items() for spelling in spellings}


def canonical(text: str) -> str:
    """'Canceled.' -> 'cancelled'; '' -> ''; 'no-show' -> UNKNOWN."""
    folded = re.sub(r"[\s_]+", " ", text.strip().casefold()).strip(" .!")
    if not folded:
        return ""
    return WORDS.get(folded, UNKNOWN)


def accepted_words() -> str:
    """For messages: what a Status cell may say."""
    return "blank, cancelled (or canceled, cancel, withdrawn...), confirmed, waitlisted"
