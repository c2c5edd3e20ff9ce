"""PURE: which session a form answer belongs to, and which session an events row is.

A signup is bound to its session the first time it matches, and the binding
is kept (in the ledger, and in the sheet's Session id column) when the
session's label, title or time text is reworded. An events row whose id is
new but which is otherwise a session the ledger knows (same start and end,
same title, label or join link) is that session renamed: its seats and its
emails carry over under the id the ledger knows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mailer.core.text import clean_text
from mailer.model import Event, Resolution, Signup, normalize_email

SEAT_NOTE = re.compile(  # what the signup form adds to a session's label: "(2 of 12 seats left)"
    r"\s*\((?:\d+ of \d+ seats? left|full: join the waitlist)\)\s*$", re.IGNORECASE
)


class EventMatcher:
    """Finds the event a form answer names: its id, its label, or a title no other event has."""

    def __init__(self, events: list[Event]):
        self.names: dict[str, str | None] = {}
        for event in events:
            for name in (event.id, event.sheet_id, event.label):
                if name:
                    self.names[normalize_email(name)] = event.id
        titles: dict[str, list[str]] = {}
        for event in events:
            titles.setdefault(normalize_email(event.title), []).append(event.id)
        for title, ids in titles.items():
            self.names.setdefault(title, ids[0] if len(ids) == 1 else None)

    def find(self, answer: str) -> str | None:
        """The session an answer names, with or without the seat note the form showed."""
        name = normalize_email(clean_text(answer))
        found = self.names.get(name)
        if found is None:
            found = self.names.get(SEAT_NOTE.sub("", name))
        return found


@dataclass(frozen=True)
class Memory:
    """What the ledger remembers about sessions and the answers bound to them."""

    bindings: Mapping[tuple[str, str], str] = field(default_factory=dict)  # identity -> id
    names: Mapping[str, str] = field(default_factory=dict)  # an id or label once seen -> id
    aliases: Mapping[str, str] = field(default_factory=dict)  # id on the sheet -> ledger id
    known: frozenset[str] = frozenset()  # ids of sessions the ledger holds


class Resolver:
    """Finds the session of one answer: bound before, named by the row, or named by its text."""

    def __init__(
        self, events: Sequence[Event], memory: Memory, troubled: Mapping[str, int] | None = None
    ):
        self.current = {e.id for e in events}
        self.matcher = EventMatcher(list(events))
        self.memory = memory
        self.troubled = troubled or {}

    def __call__(self, identity: tuple[str, str], answer: str, session_cell: str) -> Resolution:
        memory = self.memory
        bound = memory.bindings.get(identity)
        if bound is not None:
            return self._found(bound)
        cell = memory.aliases.get(session_cell.strip(), session_cell.strip())
        if cell in self.current:
            return Resolution(cell)
        named = self.matcher.find(answer)
        if named is not None:
            return Resolution(named)
        name = normalize_email(answer)
        if name in self.troubled:
            return Resolution(
                None,
                held=f"its session's row on the events tab (row {self.troubled[name]}) "
                "has a problem",
            )
        remembered = memory.names.get(name) or memory.names.get(SEAT_NOTE.sub("", name))
        if remembered is not None:
            return self._found(remembered)
        if cell:
            return self._found(cell)
        return Resolution(None)

    def _found(self, event_id: str) -> Resolution:
        if event_id in self.current:
            return Resolution(event_id)
        return Resolution(
            None, held=f"its session {event_id!r} is not on the events tab", held_id=event_id
        )


@dataclass(frozen=True)
class Renamed:
    sheet_id: str
    event_id: str
    row: int


def ledger_ids(
    events: Sequence[Event], stored: Mapping[str, Event], aliases: Mapping[str, str]
) -> tuple[list[Event], list[Renamed]]:
    """The events with the ids the ledger knows them by, and the renames found this time."""
    present: set[str] = set()
    known: list[Event] = []
    pending: list[Event] = []
    for event in events:
        if event.id in aliases:
            known.append(_as(event, aliases[event.id]))
        elif event.id in stored:
            known.append(event)
        else:
            pending.append(event)
    present = {e.id for e in known}
    renames: list[Renamed] = []
    for event in pending:
        matches = [
            old for old in stored.values() if old.id not in present and _same_session(old, event)
        ]
        if len(matches) == 1:
            present.add(matches[0].id)
            renames.append(Renamed(event.id, matches[0].id, event.row))
            known.append(_as(event, matches[0].id))
        else:
            known.append(event)
    unique: dict[str, Event] = {}
    for event in known:
        unique.setdefault(event.id, event)
    return list(unique.values()), renames


def _as(event: Event, ledger_id: str) -> Event:
    if ledger_id == event.id:
        return event
    return dataclasses.replace(event, id=ledger_id, sheet_id=event.id)


def _same_session(old: Event, new: Event) -> bool:
    if (old.starts_at, old.ends_at) != (new.starts_at, new.ends_at):
        return False
    return (
        old.title == new.title
        or bool(old.label and old.label == new.label)
        or bool(old.join_url and old.join_url == new.join_url)
    )


def corrected_addresses(
    event_id: str, signups: Sequence[Signup], bindings: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    """Old address -> new, for answers whose address an organizer corrected in the sheet.

    An answer not bound yet whose timestamp is that of exactly one answer bound
    to this session, whose address no row holds any more, is that answer with
    its address fixed: the place it had follows the new address.
    """
    present = {s.email for s in signups}
    orphans: dict[str, list[str]] = {}
    for (stamp, email), bound in bindings.items():
        if bound == event_id and email not in present:
            orphans.setdefault(stamp, []).append(email)
    moves = {}
    for signup in signups:
        stamp = signup.identity[0]
        if signup.identity not in bindings and len(orphans.get(stamp, [])) == 1:
            moves[orphans[stamp][0]] = signup.email
    return moves
