"""PURE: which digest slot is due, what it holds, and who gets it.

A slot is a scheduled moment (`at = "monday 09:00"` in the job's zone). The
slot due is the latest one that has come: a missed slot is caught up by the
next run, until the following slot comes and takes its place. A digest
holds the resources this job has not sent yet that were added on or after
the day of its last digest (for the first digest, one period back).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from mailer.rules.slot_text import AT as AT
from mailer.rules.slot_text import WEEKDAYS as WEEKDAYS

if TYPE_CHECKING:  # a job's `at` is checked with every run's settings; the rows load with a digest
    from mailer.model import Resource, Signup, Subscriber


@dataclass(frozen=True)
class Slot:
    starts: datetime  # aware, in the job's zone
    period: timedelta

    @property
    def label(self) -> str:
        return f"{self.starts:%Y-%m-%d}"

    @property
    def previous(self) -> datetime:
        """The slot before this one, at the same wall-clock time (DST or not)."""
        local = self.starts.replace(tzinfo=None) - self.period
        return local.replace(tzinfo=self.starts.tzinfo)


class Recipient(NamedTuple):
    """One reader as the digest addresses them (a tuple: a digest makes 100,000 at a time)."""

    email: str
    address: str
    name: str
    language: str = ""  # the language as the sheet gives it ("": the site's default)


def latest_slot(at: str, zone: ZoneInfo, now: datetime) -> Slot:
    """The latest moment `at` ('monday 09:00', or '09:00' daily) at or before `now`."""
    match = AT.match(at)
    if not match:
        raise ValueError(f"{at!r} is not like 'monday 09:00' or '09:00'")
    day, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    local_now = now.astimezone(zone)
    weekly = day is not None and day.lower() != "day"
    period = timedelta(days=7 if weekly else 1)
    candidate = local_now.date()
    if weekly:
        candidate -= timedelta(days=(candidate.weekday() - WEEKDAYS.index(day.lower())) % 7)
    starts = datetime.combine(candidate, time(hour, minute), tzinfo=zone)
    if starts > local_now:
        starts = datetime.combine(candidate - period, time(hour, minute), tzinfo=zone)
    return Slot(starts, period)


def new_resources(
    resources: Iterable[Resource], sent_keys: set[str], since: date
) -> list[Resource]:
    """Resources not sent before, added on or after `since` (undated ones count as new)."""
    return [
        r
        for r in resources
        if r.key not in sent_keys and (r.added_on is None or r.added_on >= since)
    ]


def grouped(
    resources: Sequence[Resource], order: Sequence[str]
) -> list[tuple[str, list[Resource]]]:
    """Resources by category: the configured order first, then the rest as they appear."""
    groups: dict[str, list[Resource]] = {}
    for resource in resources:
        groups.setdefault(resource.category, []).append(resource)
    ranked = [c for c in order if c in groups] + [c for c in groups if c not in order]
    return [(category, groups[category]) for category in ranked]


def leavers(subscribers: Iterable[Subscriber], suppressed: Iterable[str]) -> set[str]:
    """Who left: suppressed in the ledger, or unsubscribed on the Subscribers tab.

    An unsubscribe on the tab also stops a form opt-in, so the sheet alone
    keeps them out.
    """
    left = set(suppressed)
    left.update(s.email for s in subscribers if s.unsubscribed)
    return left


def audience(
    readers: Iterable[Recipient],
    signups: Sequence[Signup],
    left: Container[str],
    repeated: Iterable[str] | None = None,
) -> Iterator[Recipient]:
    """The Subscribers tab's readers, then signers-up who opted in: once each, minus those who left.

    `readers` are the rows still subscribed, in sheet order; `left` comes from
    `leavers`. When `repeated` names every address more than one reader has,
    only those and the signers-up's are remembered on the way (not 100,000
    addresses). Made one at a time, as the ledger takes them: never every
    recipient at once.
    """
    from mailer.model import normalize_email

    opted = [s for s in signups if s.digest]
    watched = None if repeated is None else {*repeated, *(s.email for s in opted)}
    seen: set[str] = set()
    for reader in readers:
        email = reader.email
        if email not in seen:
            if watched is None or email in watched:
                seen.add(email)
            if not left or normalize_email(email) not in left:
                yield reader
    for signup in opted:
        if signup.email not in seen:
            seen.add(signup.email)
            if normalize_email(signup.email) not in left:
                yield Recipient(signup.email, signup.address, signup.name, signup.language)


def for_language(resources: Sequence[Resource], language: str) -> list[Resource]:
    """What a reader in `language` gets: resources in it, and those in no language."""
    return [r for r in resources if r.language in ("", language)]


SENT_IN = re.compile(r"(\d{4}-\d{2}-\d{2})\s*\(([^()]+)\)")


def sent_in(text: str) -> list[tuple[str, str]]:
    """'2026-11-23 (digest)' -> [('digest', '2026-11-23')]: which digests carried a resource."""
    return [(job.strip(), slot) for slot, job in SENT_IN.findall(text)]


def sent_in_text(carried: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{slot} ({job})" for job, slot in carried)
