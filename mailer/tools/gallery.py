"""Every email the site can send, made by its real jobs from the sample workbook.

A throwaway copy of the site (the same templates, jobs and settings, with the
sample workbook, an outbox and a ledger in a temporary folder) lives through
a session's story: signups, someone leaving the waitlist, a cancellation
whose seat is offered, claimed and confirmed, a reminder, the digest, the
session moving, the session cancelled. What the
jobs decide is what `mailer preview` shows and `mailer check` inspects.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.errors import MailerError
from mailer.core.tokens import load_secret
from mailer.jobs.runner import run_job
from mailer.ledger import Ledger, open_ledger
from mailer.mail.message import OutgoingMessage
from mailer.rules import self_service
from mailer.settings import config
from mailer.settings.config import Settings
from mailer.settings.kinds import KINDS, ReminderOptions, SignupsOptions
from mailer.settings.languages import site_languages
from mailer.sheet.tabs import parse_events
from mailer.site import Site
from mailer.tools.sample import write_sample

MEMBER = "maya.okafor@example.org"
NON_MEMBER = "daniel.reyes@example.org"
WAITING = "ben.whitaker@example.org"
LEAVING = "rosa.jimenez@example.org"
if TYPE_CHECKING:
    from flask import Flask

STORY_KINDS = ("signups", "reminders")  # the story drives these at its own moments


@dataclass(frozen=True)
class Specimen:
    label: str
    template: str
    message: OutgoingMessage
    language: str = ""  # the language every person of its story spoke


@dataclass(frozen=True)
class PageSpecimen:
    """A page of `mailer serve` as a person sees it after following a link."""

    label: str
    html: str
    language: str = ""


@dataclass
class Gallery:
    specimens: list[Specimen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mjml: dict[str, set[str]] = field(default_factory=dict)  # template -> MJML it rendered
    pages: list[PageSpecimen] = field(default_factory=list)


@contextmanager
def scratch_site(settings: Settings) -> Iterator[Site]:
    """The site with its workbook, outbox and ledger swapped for temporary ones."""
    with tempfile.TemporaryDirectory(prefix="mailer-gallery-") as tmp:
        root = Path(tmp)
        local = dataclasses.replace(
            settings,
            workbook=dataclasses.replace(settings.workbook, backend="csv", path=root / "lists"),
            transport=dataclasses.replace(settings.transport, backend="outbox", path=root / "out"),
            ledger=settings.ledger.sqlite_at(root / "state" / "mailer.db"),
            form=dataclasses.replace(settings.form, id=""),  # never touch the real form
        )
        yield Site.from_settings(local)


def build(settings: Settings, now: datetime) -> Gallery:
    """Run the sample story once per language the site has; pick one message of each kind."""
    gallery = Gallery()
    for language in site_languages(settings):
        with scratch_site(settings) as site:
            sources: dict[str, set[str]] = {}
            site.renderer.sources = sources  # the MJML each template renders to, to be checked
            write_sample(site.settings, now)
            _everyone_speaks(site, language)
            pages: list[PageSpecimen] = []
            with open_ledger(site.settings) as ledger:
                for step in _story(site, ledger, now, pages):
                    try:
                        step()
                    except MailerError as err:
                        if str(err) not in gallery.errors:
                            gallery.errors.append(str(err))
                gallery.specimens += [
                    dataclasses.replace(s, language=language) for s in _pick(ledger)
                ]
                gallery.pages += [dataclasses.replace(p, language=language) for p in pages]
                for template, rendered in sources.items():
                    gallery.mjml.setdefault(template, set()).update(rendered)
    return gallery


def _everyone_speaks(site: Site, language: str) -> None:
    """Every signup and subscriber of the sample answers `language`."""
    for tab in ("signups", "subscribers"):
        _edit(site, tab, None, None, "language", language)


def _story(
    site: Site, ledger: Ledger, now: datetime, pages: list[PageSpecimen]
) -> list[Callable[[], object]]:
    jobs = {job.kind: job for job in config.load_jobs(site.settings)}
    signups = jobs.get("signups", config.SIGNUPS_JOB)
    reminders = jobs.get("reminders") or config.JobSettings(
        "reminders", every="5 minutes", options=ReminderOptions()
    )
    start = _event_start(site)
    # The seat Daniel frees is offered to Ben for a while, whatever the site's own setting.
    offered = dataclasses.replace(signups, options=SignupsOptions(claim_within="12 hours"))

    @functools.cache
    def serving() -> Flask:
        """mailer serve's own app over the story's ledger, made when a page is first shown."""
        from mailer.mail.speech import site_speeches
        from mailer.web.app import create_app  # Flask only when the pages are shown

        settings = site.settings
        secret = load_secret(settings.ledger.state_folder, may_generate=True)
        speaking = site_speeches(settings, site.renderer.catalogs)
        return create_app(
            ledger, secret, settings.organization.name, lambda: now, languages=speaking
        )

    def show(label: str, action: str, email: str, press: bool = False) -> None:
        """One seat page as the person sees it, made by mailer serve's own app."""
        secret = load_secret(site.settings.ledger.state_folder, may_generate=True)
        event_id = next((s.event_id for s in ledger.seats() if s.email == email), "")
        token = self_service.seat_token(secret, action, event_id, email) if event_id else "-"
        client = serving().test_client()
        answer = client.post(f"/seat/{token}") if press else client.get(f"/seat/{token}")
        pages.append(PageSpecimen(label, answer.get_data(as_text=True)))

    def show_first_pages() -> None:
        show("Page: release your seat?", self_service.RELEASE, MEMBER)
        show("Page: leave the waitlist?", self_service.RELEASE, WAITING)
        show("Page: a link that is not valid", self_service.RELEASE, "nobody@example.org")

    def decide(job: config.JobSettings, at: datetime) -> Callable[[], object]:
        return lambda: run_job(site, ledger, job, at, send=False)

    def leave_waitlist() -> None:
        _edit(site, "signups", "email", LEAVING, "status", "cancelled")
        decide(signups, now + timedelta(minutes=2))()

    def cancel_seat() -> None:
        _edit(site, "signups", "email", NON_MEMBER, "status", "cancelled")
        decide(offered, now + timedelta(minutes=5))()

    def claim_seat() -> None:
        settings = site.settings
        secret = load_secret(settings.ledger.state_folder, may_generate=True)
        seat = next((s for s in ledger.seats() if s.email == WAITING), None)
        if seat is None:
            return  # the story broke earlier, and said so
        token = self_service.seat_token(secret, self_service.CLAIM, seat.event_id, seat.email)
        claim = self_service.SeatRef(self_service.CLAIM, seat.event_id, seat.email)
        ledger.add_request(token, claim, now + timedelta(minutes=6), "preview")
        decide(offered, now + timedelta(minutes=7))()

    def move_session() -> None:
        for column, hours in (("starts_at", 1), ("ends_at", 1)):
            _shift(site, column, hours)
        decide(signups, now + timedelta(minutes=20))()

    def cancel_session() -> None:
        _edit(site, "events", None, None, "status", "cancelled")
        decide(signups, now + timedelta(minutes=30))()

    # The digest, and any other kind of the registry that makes mail, decides once after
    # the signups (a kind that only reads, such as bounces, is left out: nothing to show).
    others = [job for kind, job in jobs.items() if kind not in STORY_KINDS and KINDS[kind].sends]
    return [
        decide(signups, now),
        show_first_pages,
        leave_waitlist,
        cancel_seat,
        lambda: show("Page: claim your seat?", self_service.CLAIM, WAITING),
        claim_seat,
        lambda: show("Page: your seat is released", self_service.RELEASE, MEMBER, press=True),
        decide(reminders, start - timedelta(hours=23)),
        *(decide(job, now + timedelta(minutes=10)) for job in others),
        move_session,
        cancel_session,
    ]


def _pick(ledger: Ledger) -> list[Specimen]:
    wanted = [
        ("Confirmation, member", "confirmation", MEMBER),
        ("Confirmation, non-member (donation details)", "confirmation", NON_MEMBER),
        ("Waitlisted", "waitlist", WAITING),
        ("Left the waitlist (acknowledgement)", "released", LEAVING),
        ("Seat released (acknowledgement, calendar cancellation)", "released", NON_MEMBER),
        ("A freed seat offered, to claim", "offer", WAITING),
        ("Promoted from the waitlist", "promotion", WAITING),
        ("Reminder", "reminder", None),
        ("Digest", "digest", None),
        ("Session moved", "update", None),
        ("Session cancelled", "cancellation", None),
    ]
    messages: dict[tuple[str, str], OutgoingMessage] = {}
    first: dict[str, OutgoingMessage] = {}
    for batch in ledger.due(1000):
        for message in batch:
            messages.setdefault((message.kind, message.to_email), message)
            first.setdefault(message.kind, message)
    picked = []
    for label, kind, email in wanted:
        found = (messages.get((kind, email)) if email else None) or first.get(kind)
        if found is not None:
            picked.append(Specimen(label, kind, found))
    # A kind of message the list does not name (a new job kind's) is shown as it is named.
    named = {kind for _, kind, _ in wanted}
    for kind, message in first.items():
        if kind not in named:
            picked.append(Specimen(kind.replace("_", " ").capitalize(), kind, message))
    return picked


def _event_start(site: Site) -> datetime:
    table = site.workbook.read([site.settings.workbook.tab("events")])
    tab = site.settings.workbook.tab("events")
    mapping = site.settings.workbook.column_map("events")
    parsed = parse_events(table[tab], mapping, site.settings.organization.timezone)
    return parsed.events[0].starts_at


def _rows(site: Site, tab: str) -> tuple[Path, list[dict[str, str]], list[str]]:
    path = site.settings.workbook.path / f"{site.settings.workbook.tab(tab)}.csv"
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return path, list(reader), list(reader.fieldnames or [])


def _save(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _edit(site: Site, tab: str, key: str | None, value: str | None, field: str, new: str) -> None:
    """Set `field` in the rows whose `key` column holds `value` (every row without a key)."""
    mapping = site.settings.workbook.column_map(tab)
    path, rows, header = _rows(site, tab)
    for row in rows:
        if key is None or row.get(mapping[key], "").casefold() == (value or "").casefold():
            row[mapping[field]] = new
    if mapping[field] not in header:
        header.append(mapping[field])
    _save(path, rows, header)


def _shift(site: Site, field: str, hours: int) -> None:
    mapping = site.settings.workbook.column_map("events")
    path, rows, header = _rows(site, "events")
    for row in rows:
        moment = datetime.fromisoformat(row[mapping[field]])
        row[mapping[field]] = (moment + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")
    _save(path, rows, header)
