"""Random sequences of the edits organizers make, through the real signups job.

After every step: nobody has two seat emails for one session unless told in
between that the seat is gone (an organizer's cancel, acknowledged, then their
`confirmed` again), nobody told they have a seat is on the waitlist, mailer
confirms past capacity only when an organizer did, and no Status an organizer
typed is replaced by one mailer chose. A row mailer rejected (an address that is
not one) holds no seat, whatever an organizer types in its Status.
"""

from __future__ import annotations

import csv
import random
import shutil
import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import NOW, REPO, SiteDir
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailer.rules.statuses import canonical
from mailer.tools.sample import write_sample

FORM_TIME = "%m/%d/%Y %H:%M:%S"
CANCEL_SPELLINGS = ("cancelled", "canceled", "Cancel", "withdrawn", "CANCELED ")
edits = st.one_of(
    st.tuples(st.just("cancel"), st.integers(0, 15), st.sampled_from(CANCEL_SPELLINGS)),
    st.tuples(st.just("confirm"), st.integers(0, 15), st.just("confirmed")),
    st.tuples(st.just("relabel"), st.sampled_from(["Wednesday noon", "Dec 2", ""])),
    st.tuples(st.just("capacity"), st.integers(0, 16)),
    st.tuples(st.just("reorder"), st.integers(0, 1000)),
    st.tuples(st.just("delete event")),
    st.tuples(st.just("restore event")),
    st.tuples(st.just("delete ledger")),
)


def new_site() -> SiteDir:
    root = Path(tempfile.mkdtemp(prefix="organizer-edits-")) / "site"
    root.mkdir()
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    site = SiteDir(root)
    write_sample(site.settings(), NOW)
    return site


class Organizer:
    """Edits the sample workbook and remembers what it typed into Status cells."""

    def __init__(self, site: SiteDir):
        self.site = site
        self.events_path = site.root / "lists" / "events.csv"
        self.saved_events = self.events_path.read_text(encoding="utf-8")
        self.typed: dict[tuple[str, str], str] = {}  # (Timestamp, Email) -> meaning typed
        self.rejected = {identity(row) for row in site.rows() if row["Status"] == "invalid"}
        self.hand_confirmed = 0  # seats confirmed by hand: rows mailer rejected hold none

    def apply(self, edit: tuple) -> None:
        kind, *args = edit
        if kind in ("cancel", "confirm"):
            index, word = args
            rows = self.site.rows()
            row = rows[index % len(rows)]
            row["Status"] = word
            self.typed[identity(row)] = canonical(word)
            self.hand_confirmed += kind == "confirm" and identity(row) not in self.rejected
            self.site.write_rows("signups", rows)
        elif kind in ("relabel", "capacity") and self.events_path.read_text().count("\n") > 1:
            rows = self.site.rows("events")
            rows[0]["label" if kind == "relabel" else "capacity"] = str(args[0])
            self.site.write_rows("events", rows)
        elif kind == "reorder":
            rows = self.site.rows()
            random.Random(args[0]).shuffle(rows)
            self.site.write_rows("signups", rows)
        elif kind == "delete event":
            self.events_path.write_text(self.saved_events.splitlines()[0] + "\n")
        elif kind == "restore event" and self.events_path.read_text().count("\n") <= 1:
            self.events_path.write_text(self.saved_events)
        elif kind == "delete ledger":
            shutil.rmtree(self.site.root / "state", ignore_errors=True)


def identity(row: dict[str, str]) -> tuple[str, str]:
    return row["Timestamp"], row["Email Address"]


def seat_emails(site: SiteDir, kinds: tuple[str, ...] = ("confirmation", "promotion")) -> Counter:
    return Counter(
        (line["event"], line["to"].casefold()) for line in site.sent() if line["kind"] in kinds
    )


def first_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each person's own row: their first answer (a later one is a duplicate, not a seat)."""
    first: dict[str, dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: datetime.strptime(r["Timestamp"], FORM_TIME)):
        first.setdefault(row["Email Address"].casefold(), row)
    return list(first.values())


def capacity(site: SiteDir) -> int:
    with open(site.root / "lists" / "events.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return int(rows[0]["capacity"]) if rows else 0


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edits, min_size=1, max_size=7))
@example([("confirm", 5, "confirmed"), ("cancel", 0, "cancelled")])  # a duplicate row confirmed
@example([("cancel", 0, "cancelled"), ("confirm", 0, "confirmed")])  # told of both
@example([("relabel", "Dec 2"), ("delete ledger",), ("relabel", ""), ("cancel", 3, "Cancel")])
@example(  # `confirmed` typed on the rejected row (chris.doe@@...), then capacity 12 -> 14
    [
        ("reorder", 145),
        ("confirm", 13, "confirmed"),
        ("restore event",),
        ("restore event",),
        ("capacity", 14),
        ("cancel", 3, "cancelled"),
        ("delete event",),
    ]
)
def test_no_organizer_edit_double_books_bumps_or_overwrites(steps):
    check_every_step(steps)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edits, min_size=1, max_size=7))
def test_no_organizer_edit_in_25_more_sequences_double_books_bumps_or_overwrites(steps):
    check_every_step(steps)


def check_every_step(steps: list[tuple]) -> None:
    """Apply each edit, run the signups job, and check what the module docstring promises."""
    site = new_site()
    site.mailer("run", "signups")
    organizer = Organizer(site)
    confirmed_before = 12
    try:
        for number, edit in enumerate(steps, start=1):
            hand_before = organizer.hand_confirmed
            organizer.apply(edit)
            result = site.mailer("run", "signups", now=NOW + timedelta(hours=number))
            assert result.exit_code == 0, result.output

            told_gone = seat_emails(site, ("released",))
            assert all(n <= 1 + told_gone[who] for who, n in seat_emails(site).items()), edit
            told = {person for _, person in seat_emails(site)}
            rows = site.rows()
            for row in rows:
                if row["Email Address"].casefold() in told:
                    assert row["Status"] != "waitlisted", (edit, row)
                typed = organizer.typed.get(identity(row))
                if typed is not None:
                    assert canonical(row["Status"]) == typed, (edit, row)
            seats = [row for row in first_rows(rows) if identity(row) not in organizer.rejected]
            confirmed = sum(1 for row in seats if row["Status"] == "confirmed")
            hand = organizer.hand_confirmed - hand_before
            assert confirmed <= max(capacity(site), confirmed_before) + hand, edit
            confirmed_before = confirmed
    finally:
        shutil.rmtree(site.root.parent, ignore_errors=True)
