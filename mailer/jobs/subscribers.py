"""Who left the digest, written where organizers (and a rebuilt ledger) can read it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailer.ledger import Ledger
from mailer.model import Signup, Subscriber
from mailer.sheet.view import Tab
from mailer.site import Site

UNSUBSCRIBE = "unsubscribe"


def write_unsubscribes(
    site: Site,
    ledger: Ledger,
    tab: Tab,
    subscribers: Sequence[Subscriber],
    signups: Callable[[], Iterable[Signup]],
) -> int:
    """Fill unsubscribed_on for people who unsubscribed since; add a row for form opt-ins.

    Someone who opted in on the form and left has no Subscribers row yet: one
    is added, so the sheet alone says they left and a lost ledger never brings
    the digest back to them. `signups` is called only when someone who left
    has no Subscribers row, which most runs find nobody to be. Returns how
    many cells and rows were written.
    """
    unsubscribed = ledger.suppressed(UNSUBSCRIBE)
    if not unsubscribed:
        return 0
    zone = site.settings.organization.zone

    def day(email: str) -> str:
        return f"{datetime.fromisoformat(unsubscribed[email]).astimezone(zone):%Y-%m-%d}"

    changes = [
        tab.change(s.row, s.key, "unsubscribed_on", "", day(s.email))
        for s in subscribers
        if s.email in unsubscribed and not s.unsubscribed
    ]
    written = 0
    if changes:
        written = site.sheet.write(tab, ["email"], changes).written
    unlisted = unsubscribed.keys() - {s.email for s in subscribers}
    if not unlisted:
        return written
    opted_in = {s.email: s for s in signups() if s.digest}
    added = [
        {
            "email": opted_in[email].address,
            "name": opted_in[email].name,
            "unsubscribed_on": day(email),
        }
        for email in sorted(unlisted & opted_in.keys())
    ]
    return written + (site.sheet.append(tab, added) if added else 0)


@dataclass(frozen=True)
class Synced:
    """What `sync_unsubscribes` wrote, and who the digest lists (Subscribers rows, opt-ins)."""

    written: int
    readers: frozenset[str]


def sync_unsubscribes(site: Site, ledger: Ledger) -> Synced:
    """Write every unsubscribe the ledger holds to the Subscribers tab now (one read, one write).

    For `mailer unsubscribe`, so the sheet says it at once, not at the next run.
    """
    from mailer.model import Resolution
    from mailer.sheet.tabs import parse_signups, parse_subscribers

    tables = site.sheet.read(["subscribers", "signups"])
    signups: list[Signup] = []
    if "signups" in tables:
        signups = parse_signups(
            tables["signups"].table,
            tables["signups"].columns,
            [],
            site.settings.organization.zone,
            lambda identity, answer, cell: Resolution(answer or cell or "-"),
        ).signups
    opted_in = frozenset(s.email for s in signups if s.digest)
    if "subscribers" not in tables:
        return Synced(0, opted_in)
    tab = tables["subscribers"]
    subscribers, _ = parse_subscribers(tab.table, tab.columns)
    written = write_unsubscribes(site, ledger, tab, subscribers, lambda: signups)
    return Synced(written, opted_in | {s.email for s in subscribers})


def clear_unsubscribe(site: Site, email: str) -> int:
    """Clear unsubscribed_on for an address taken off the suppression list; cells cleared."""
    from mailer.sheet.tabs import parse_subscribers

    tab = site.sheet.read(["subscribers"]).get("subscribers")
    if tab is None:
        return 0
    subscribers, _ = parse_subscribers(tab.table, tab.columns)
    changes = [
        tab.change(
            s.row,
            s.key,
            "unsubscribed_on",
            tab.cell(tab.table.rows[s.row - 2], "unsubscribed_on"),
            "",
        )
        for s in subscribers
        if s.email == email and s.unsubscribed
    ]
    if not changes:
        return 0
    return site.sheet.write(tab, ["email"], changes).written
