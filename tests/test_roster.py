"""The roster's rules, as properties over any mix of signups, statuses and capacities."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.model import Event, Signup
from mailer.rules import roster
from mailer.rules.roster import Previous, plan

START = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
BEFORE = START - timedelta(days=3)
AFTER = START + timedelta(minutes=1)
UNTIMED = settings(deadline=None)  # speed is measured in bench/; a loaded machine is slow


def event(capacity: int) -> Event:
    return Event("ccs", "Conversation", START, START + timedelta(minutes=90), "UTC", capacity)


@st.composite
def signups(draw, statuses=("", "", "", "cancelled", "confirmed")) -> list[Signup]:
    count = draw(st.integers(0, 25))
    rows = []
    for row in range(2, count + 2):
        email = f"p{draw(st.integers(0, 14))}@example.org"
        minute = draw(st.integers(0, 40))
        rows.append(
            Signup(
                row=row,
                key=(str(minute), email),
                timestamp=BEFORE - timedelta(days=1) + timedelta(minutes=minute),
                email=email,
                address=email,
                name=f"Person {row}",
                event_id="ccs",
                status=draw(st.sampled_from(statuses)),
            )
        )
    return rows


def written_back(people: list[Signup], result: roster.Plan) -> list[Signup]:
    """The signups as the sheet holds them after the job writes its statuses."""
    return [dataclasses.replace(s, status=status(result.rows[s.row], s)) for s in people]


def status(decision: roster.RowDecision, signup: Signup) -> str:
    """The Status cell after the write: the decision, or what the organizer typed if none."""
    return signup.status if decision.status is None else decision.status


def in_order(people: list[Signup]) -> list[Signup]:
    return sorted(people, key=lambda s: (s.timestamp, s.row))


def overrides(people: list[Signup]) -> set[str]:
    first: dict[str, Signup] = {}
    for s in in_order(people):
        first.setdefault(s.email, s)
    return {e for e, s in first.items() if s.status == roster.CONFIRMED}


@UNTIMED
@given(signups(), st.integers(0, 8))
def test_never_more_confirmed_than_capacity_except_by_organizer(people, capacity):
    result = plan(event(capacity), people, Previous(), BEFORE)

    assert result.confirmed <= max(capacity, len(overrides(people)))


@UNTIMED
@given(signups(statuses=("",)), st.integers(0, 8))
def test_first_come_first_served(people, capacity):
    result = plan(event(capacity), people, Previous(), BEFORE)

    distinct = list(dict.fromkeys(s.email for s in in_order(people)))
    confirmed = [e for e in distinct if result.seats[e].status == roster.CONFIRMED]
    assert confirmed == distinct[:capacity]
    waiting = sorted(
        (e for e in distinct if result.seats[e].status == roster.WAITLISTED),
        key=lambda e: result.seats[e].position or 0,
    )
    assert waiting == distinct[capacity:]
    assert [result.seats[e].position for e in waiting] == list(range(1, len(waiting) + 1))


@UNTIMED
@given(signups(), st.integers(0, 8))
def test_one_seat_per_person_per_event(people, capacity):
    result = plan(event(capacity), people, Previous(), BEFORE)

    assert set(result.seats) == {s.email for s in people}
    # A later row of the same person is a duplicate (or, cancelled there, left as typed).
    holders = [r for r in result.rows.values() if not r.note.startswith("same person")]
    assert len(holders) == len(result.seats)
    assert len({(n.kind, n.email) for n in result.notices}) == len(result.notices)


@UNTIMED
@given(signups(statuses=("",)), st.integers(1, 8), st.data())
def test_a_freed_seat_goes_to_the_first_waitlisted(people, capacity, data):
    first = plan(event(capacity), people, Previous(), BEFORE)
    waiting = [e for e, s in first.seats.items() if s.position == 1]
    confirmed = [e for e, s in first.seats.items() if s.status == roster.CONFIRMED]
    if not waiting or not confirmed:
        return
    leaving = data.draw(st.sampled_from(confirmed))
    sheet = [
        dataclasses.replace(s, status=roster.CANCELLED) if s.email == leaving else s
        for s in written_back(people, first)
    ]

    second = plan(event(capacity), sheet, first.as_previous(), BEFORE + timedelta(hours=1))

    assert second.seats[waiting[0]].status == roster.CONFIRMED
    assert [(n.kind, n.email) for n in second.notices] == [(roster.PROMOTION, waiting[0])]


@UNTIMED
@given(signups(statuses=("",)), st.integers(1, 8), st.data())
def test_nothing_promoted_after_the_start(people, capacity, data):
    first = plan(event(capacity), people, Previous(), BEFORE)
    confirmed = [e for e, s in first.seats.items() if s.status == roster.CONFIRMED]
    if not confirmed:
        return
    leaving = data.draw(st.sampled_from(confirmed))
    sheet = [
        dataclasses.replace(s, status=roster.CANCELLED) if s.email == leaving else s
        for s in written_back(people, first)
    ]

    late = plan(event(capacity), sheet, first.as_previous(), AFTER)

    assert late.notices == []
    assert {e for e, s in late.seats.items() if s.status == roster.CONFIRMED} == set(confirmed) - {
        leaving
    }


@settings(UNTIMED, max_examples=200)
@given(signups(), st.integers(0, 8), st.sampled_from([BEFORE, AFTER]))
def test_planning_its_own_output_again_changes_nothing(people, capacity, now):
    first = plan(event(capacity), people, Previous(), now)

    again = plan(event(capacity), written_back(people, first), first.as_previous(), now)

    assert again.seats == first.seats
    assert again.rows == first.rows
    assert again.notices == []


def in_a_row(count: int) -> list[Signup]:
    """People p2, p3, ... who signed up one minute apart, from sheet row 2 on."""
    return [
        Signup(
            row,
            (str(row), f"p{row}@example.org"),
            BEFORE + timedelta(minutes=row),
            f"p{row}@example.org",
            f"p{row}@example.org",
            "P",
            "ccs",
        )
        for row in range(2, count + 2)
    ]


def test_lowering_capacity_bumps_nobody_and_warns():
    people = in_a_row(6)
    first = plan(event(6), people, Previous(), BEFORE)

    smaller = plan(event(3), written_back(people, first), first.as_previous(), BEFORE)

    assert smaller.confirmed == 6
    assert smaller.warnings == ["ccs: 6 confirmed for 3 seats; nobody is bumped"]


def test_raising_capacity_promotes_from_the_waitlist_in_order():
    people = in_a_row(6)
    first = plan(event(3), people, Previous(), BEFORE)

    bigger = plan(event(5), written_back(people, first), first.as_previous(), BEFORE)

    assert [(n.kind, n.email) for n in bigger.notices] == [
        (roster.PROMOTION, "p5@example.org"),
        (roster.PROMOTION, "p6@example.org"),
    ]


def test_raising_capacity_counts_a_seat_confirmed_by_hand_as_taken():
    people = in_a_row(6)
    first = plan(event(3), people, Previous(), BEFORE)
    by_hand = [
        dataclasses.replace(s, status=roster.CONFIRMED) if s.email == "p5@example.org" else s
        for s in written_back(people, first)
    ]
    second = plan(event(3), by_hand, first.as_previous(), BEFORE)

    bigger = plan(
        event(5), written_back(by_hand, second), second.as_previous(first.as_previous()), BEFORE
    )

    assert second.confirmed == 4
    assert [(n.kind, n.email) for n in bigger.notices] == [(roster.PROMOTION, "p6@example.org")]
    assert bigger.confirmed == 5
    assert bigger.seats["p7@example.org"] == roster.Seat(roster.WAITLISTED, 7, position=1)
