"""Which bounces suppress an address: one hard bounce or complaint at once, soft ones by count.

A hard bounce (RFC 3463 status 5.x.x) says the address will never take
mail; a soft one (4.x.x: mailbox full, server busy) says not now, so it only
counts, and the address is suppressed once SOFT_LIMIT of its last
SOFT_WINDOW sends came back soft. A spam complaint (an ARF report)
suppresses at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

HARD = "hard"
SOFT = "soft"
COMPLAINT = "complaint"
SOFT_LIMIT = 3
SOFT_WINDOW = 5
STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\s*$")


def severity(status: str) -> str:
    """HARD for a 5.x.x status, SOFT for 4.x.x, "" for anything else (2.x.x is a delivery)."""
    found = STATUS.match(status)
    if found is None:
        return ""
    return {"5": HARD, "4": SOFT}.get(found.group(1), "")


@dataclass(frozen=True)
class Verdict:
    """Whether to suppress the address, and why in words for organizers ("" keeps it)."""

    suppress: bool
    why: str


def decide(kind: str, recent_soft: Sequence[bool]) -> Verdict:
    """The verdict on one bounce of `kind` (HARD, SOFT or COMPLAINT).

    `recent_soft` holds, for the address's latest sends, newest first and this
    bounce's message among them, whether each came back with a soft bounce.
    """
    if kind == HARD:
        return Verdict(True, "hard bounce: the address does not take mail")
    if kind == COMPLAINT:
        return Verdict(True, "complaint: the recipient marked the email as spam")
    if kind != SOFT:
        return Verdict(False, "")
    soft = sum(1 for bounced in recent_soft[:SOFT_WINDOW] if bounced)
    sends = min(len(recent_soft), SOFT_WINDOW)
    counted = f"{soft} soft bounce{'s' * (soft != 1)} in the last {sends} send{'s' * (sends != 1)}"
    if soft >= SOFT_LIMIT:
        return Verdict(True, counted)
    return Verdict(False, f"{counted} (suppressed at {SOFT_LIMIT})")
