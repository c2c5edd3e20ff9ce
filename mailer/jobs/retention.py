"""Retention after the jobs of every run: what `[privacy]` says mailer may no longer keep.

Message bodies older than `keep_bodies` leave the ledger and the outbox;
sessions that ended `keep_sessions` ago are retired (mailer.ledger.privacy):
their people leave the ledger, counts and keyed hashes stay, and the jobs
leave their rows on the sheet alone from then on. Also the filters the jobs
apply: retired sessions and forgotten people are not acted on again.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.durations import seconds
from mailer.core.errors import ConfigError
from mailer.core.text import plural
from mailer.ledger import Ledger
from mailer.ledger.privacy import Privacy, Removed
from mailer.sending.transports import outbox
from mailer.settings.config import JobSettings
from mailer.settings.secret import site_secret
from mailer.site import Site

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.model import Problem, Signup, Subscriber
    from mailer.sheet.tabs import Parsed

RETENTION = JobSettings(kind="retention", name="retention")
NOTHING_REMOVED = "nothing to remove"
FORGOTTEN = (
    "this person asked mailer to forget them ({at}); mailer ignores this row and keeps "
    "nothing of it: delete the row (the sheet is yours to clean)"
)


def open_privacy(site: Site, ledger: Ledger) -> Privacy:
    """Retention and forgetting on this ledger, hashing under the site's secret."""
    return Privacy(ledger, lambda: site_secret(site.settings))


@dataclass(eq=False, repr=False)
class RetentionReport:
    removed: Removed = field(default_factory=Removed)
    outbox_files: int = 0
    dry_run: bool = False
    forgotten: int = 0  # people who asked from the link in a digest
    problems: list[Problem] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        r = self.removed
        asked = [f"forgot {plural(self.forgotten, 'person', 'people')} who asked"]
        if not (r or self.outbox_files):
            return "; ".join(asked) if self.forgotten else NOTHING_REMOVED
        verb = "would remove" if self.dry_run else "removed"
        parts = [f"{verb} {plural(r.bodies, 'message body', 'message bodies')}"]
        if r.sessions:
            parts.append(
                f"the people of {plural(len(r.sessions), 'past session')}"
                f" ({_listed(r.sessions)}: {plural(r.seats, 'seat')})"
            )
        if r.messages:
            parts.append(f"the addresses of {plural(r.messages, 'message')} (kept as counts)")
        parts.append(f"{plural(self.outbox_files, 'outbox message')}")
        return "; ".join([", ".join(parts), *(asked if self.forgotten else []), *self.warnings])

    def show(self, console: Console, job: JobSettings) -> None:
        console.print(f"Retention: {self.summary()}.", markup=False, highlight=False, emoji=False)


def _listed(ids: list[str], most: int = 5) -> str:
    shown = ", ".join(ids[:most])
    return shown if len(ids) <= most else f"{shown} and {len(ids) - most} more"


def run_retention(
    site: Site, ledger: Ledger, now: datetime, dry_run: bool = False
) -> RetentionReport:
    """Remove what `[privacy]` no longer allows; with `dry_run`, count it only."""
    keep = site.settings.privacy
    bodies_before = now - timedelta(seconds=seconds(keep.keep_bodies))
    sessions_before = now - timedelta(seconds=seconds(keep.keep_sessions))
    report = RetentionReport(dry_run=dry_run)
    privacy = open_privacy(site, ledger)
    retired = privacy.retired_sessions()
    due = [
        event_id
        for event_id, stored in ledger.stored_events().items()
        if stored.event.ends_at < sessions_before and event_id not in retired
    ]
    bodies = privacy.strip_bodies(bodies_before, dry_run)
    try:
        report.removed = privacy.retire(due, sessions_before, now, dry_run)
    except ConfigError as err:
        report.warnings.append(f"past sessions kept: keyed hashes need the secret ({err})")
    report.removed.bodies = bodies
    hashed_now = bool(report.removed.sessions or report.removed.messages)
    report.outbox_files = prune_outbox(site, ledger, privacy, bodies_before, dry_run, hashed_now)
    removed = report.removed
    if not dry_run and removed:
        privacy.vacuum(full=bool(removed.sessions or removed.messages))
    return report


def prune_outbox(
    site: Site,
    ledger: Ledger,
    privacy: Privacy,
    before: datetime,
    dry_run: bool,
    hashed_now: bool,
) -> int:
    """Outbox messages sent before `before`, or of retired sessions or forgotten people.

    A prune remembers the index file it left and its oldest message: while the
    index is that file, that message is not due and no key became a keyed hash
    just now (a session retired), no message in it is due (forgetting a person
    rewrites the index), and the outbox is not read again.
    """
    settings = site.settings
    if settings.transport.backend != "outbox":
        return 0
    folder = str(settings.transport.path)
    kept = privacy.outbox_kept(folder)
    if not hashed_now and kept and kept[0] == outbox.index_file(folder) and kept[1] >= before:
        return 0
    cutoff = before.astimezone(UTC).isoformat()
    any_hashed = privacy.any_kept_as_count()
    from mailer.model import normalize_email  # the rows load for an outbox to prune

    oldest: list[datetime] = []  # when each message kept was sent, or its file written

    def drop_some(entries: list[outbox.Entry]) -> list[bool]:
        times = privacy.message_times([entry["key"] for entry, _ in entries])
        return [drop(entry, eml, times.get(entry["key"])) for entry, eml in entries]

    def drop(entry: dict[str, str], eml: Path, at: str | None) -> bool:
        if at is not None:
            if at < cutoff:
                return True
            oldest.append(datetime.fromisoformat(at))
            return False
        if any_hashed and privacy.kept_as_count(entry["key"]):
            return True  # its session was retired
        if privacy.forgotten_at(normalize_email(entry.get("to", ""))) is not None:
            return True
        try:  # a message the ledger never held (it was lost and rebuilt): the file's age
            written = datetime.fromtimestamp(os.stat(eml).st_mtime, UTC)
        except OSError:
            return True
        if written < before:
            return True
        oldest.append(written)
        return False

    dropped = outbox.prune(settings.transport.path, drop_some, dry_run)
    if not dry_run:
        privacy.keep_outbox(folder, outbox.index_file(folder), min(oldest, default=None))
    return dropped


def forget_outbox(site: Site, email: str) -> int:
    """Remove every outbox message to this (normalized) address."""
    if site.settings.transport.backend != "outbox":
        return 0
    from mailer.model import normalize_email

    return outbox.prune(
        site.settings.transport.path,
        lambda entries: [normalize_email(entry.get("to", "")) == email for entry, _ in entries],
    )


def acted_on(privacy: Privacy, parsed: Parsed, tab: str) -> tuple[Parsed, list[Problem]]:
    """The rows the jobs may act on: not of a retired session, not of a forgotten person.

    A forgotten person's rows answered before they asked are reported for
    organizers to delete; an answer given after it is a new signup.
    """
    from mailer.model import Problem  # the rows load where a pass plans in full

    retired = privacy.retired_sessions()
    problems: list[Problem] = []
    kept: list[Signup] = []
    for signup in parsed.signups:
        if signup.event_id in retired:
            continue
        at = privacy.forgotten_at(signup.email)
        if at is not None and signup.timestamp <= at:
            problems.append(Problem(tab, signup.row, "", FORGOTTEN.format(at=f"{at:%Y-%m-%d}")))
            continue
        kept.append(signup)
    parsed.events = [e for e in parsed.events if e.id not in retired]
    parsed.signups = kept
    parsed.held = [
        h
        for h in parsed.held
        if h.event_id not in retired and privacy.forgotten_at(h.email) is None
    ]
    return parsed, problems


def digest_readers(
    privacy: Privacy, subscribers: Sequence[Subscriber], signups: Sequence[Signup], tab: str
) -> tuple[Sequence[Subscriber], list[Signup], list[Problem]]:
    """The Subscribers rows and signups the digest may reach, and the Subscribers rows to report.

    A forgotten person is a reader again only by answering the form after they
    asked; an opt-in given for a retired session has lapsed with it.
    """
    if not privacy.anyone_forgotten():  # then every Subscribers row is kept, as it is
        kept_signups = [s for s in signups if privacy.retired_binding(s.identity) is None]
        return subscribers, kept_signups, []

    def asked_before(email: str, moment: datetime | None) -> datetime | None:
        at = privacy.forgotten_at(email)
        return at if at is not None and (moment is None or moment <= at) else None

    renewed = {
        s.email
        for s in signups
        if privacy.forgotten_at(s.email) and not asked_before(s.email, s.timestamp)
    }
    kept_signups = [
        s
        for s in signups
        if asked_before(s.email, s.timestamp) is None
        and privacy.retired_binding(s.identity) is None
    ]
    from mailer.model import Problem

    kept: list[Subscriber] = []
    problems = []
    for subscriber in subscribers:
        at = asked_before(subscriber.email, None)
        if at is None or subscriber.email in renewed:
            kept.append(subscriber)
        else:
            problems.append(Problem(tab, subscriber.row, "", FORGOTTEN.format(at=f"{at:%Y-%m-%d}")))
    return kept, kept_signups, problems
