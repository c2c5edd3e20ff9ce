"""The digest job: once per slot, new resources and open seats to everyone who asked for them."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

from mailer.core.collector import collector_paused
from mailer.core.text import plural
from mailer.core.tokens import hmac_token, unsubscribe_sealer
from mailer.jobs.base import delivered_text
from mailer.jobs.retention import digest_readers, open_privacy
from mailer.jobs.subscribers import write_unsubscribes
from mailer.ledger import Ledger
from mailer.mail.emails import event_view, site_body, site_speech, with_language
from mailer.mail.message import MARK, Body, Draft, placeholder
from mailer.mail.speech import Speech
from mailer.model import Event, Problem, Resolution, Resource, Signup, Subscriber
from mailer.rules import digest, roster
from mailer.rules.binding import ledger_ids
from mailer.rules.digest import Recipient, Slot
from mailer.rules.languages import language_of
from mailer.rules.statuses import OFFERED
from mailer.settings.config import JobSettings
from mailer.settings.kinds import DigestOptions
from mailer.settings.languages import spellings
from mailer.sheet.readers import SubscriberRows
from mailer.sheet.tabs import (
    anyone_asks_for_the_digest,
    parse_events,
    parse_resources,
    parse_signups,
    subscriber_fields,
)
from mailer.sheet.view import Tab
from mailer.site import Site

if TYPE_CHECKING:
    from rich.console import Console

UNSUBSCRIBE = "unsubscribe"
DIGEST_TABS = ("resources", "subscribers", "signups", "events")


@dataclass
class DigestReport:
    slot: str = ""
    skipped: str = ""
    resources: int = 0
    recipients: int = 0
    problems: list[Problem] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)
    unsubscribes_written: int = 0
    adopted: int = 0  # digests the Resources tab shows were sent that the ledger did not hold

    def summary(self) -> str:
        decided = self.skipped or f"{plural(self.recipients, 'recipient')} for {self.slot}"
        rejected = plural(len(self.problems), "row")
        return f"{decided}, {delivered_text(self.delivered)}, {rejected} rejected"

    def show(self, console: Console, job: JobSettings) -> None:
        line = f"Digest ({job.name}), slot {self.slot}: "
        if self.skipped:
            line += self.skipped
        else:
            resources = plural(self.resources, "new resource")
            line += f"{resources} to {plural(self.recipients, 'person', 'people')}"
        if self.delivered or not self.skipped:
            line += f"; {delivered_text(self.delivered)}"
        if self.unsubscribes_written:
            written = plural(self.unsubscribes_written, "unsubscribe")
            line += f"; {written} written to the sheet"
        if self.adopted:
            earlier = plural(self.adopted, "earlier digest")
            line += f"; rebuilt from the sheet: {earlier} the Resources tab shows as sent"
        console.print(line + ".", soft_wrap=True, highlight=False)
        for problem in self.problems:
            console.print(f"  {problem}", markup=False, soft_wrap=True)


@dataclass(frozen=True)
class Contents:
    groups: list[tuple[str, list[Resource]]]
    sessions: list[dict[str, object]]


@dataclass
class SlotDigest:
    """A slot's digest as decided: what it carries, and to whom."""

    slot: str
    resources: list[str]  # the keys of the resources it carries
    drafts: Iterator[Draft]  # made as the ledger takes them (never all at once)


@dataclass
class Digest:
    """One pass: this slot's digest if it is due and has news, and the sheet as it was read."""

    job: JobSettings
    now: datetime
    tables: dict[str, Tab]
    subscribers: Sequence[Subscriber]
    report: DigestReport
    decided: SlotDigest | None = None

    def record(self, site: Site, ledger: Ledger) -> None:
        if self.decided is None:
            return
        d = self.decided
        with collector_paused():  # 100,000 drafts made and recorded: none of them cyclic
            self.report.recipients = ledger.record_digest(
                self.job.name, d.slot, d.resources, d.drafts, self.now
            )

    def write_back(self, site: Site, ledger: Ledger) -> None:
        """Who left, on the Subscribers tab; which digest carried each resource, on Resources."""
        if "subscribers" in self.tables:
            self.report.unsubscribes_written = write_unsubscribes(
                site,
                ledger,
                self.tables["subscribers"],
                self.subscribers,
                lambda: _events_and_signups(site, self.tables)[1],
            )
        _write_sent_in(site, ledger, self.job, self.tables)


def decide(site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Digest:
    """This slot's digest if it is due and has news."""
    with collector_paused():  # 100,000 rows read, parsed and held: none of them cyclic
        return _decision(site, ledger, job, now)


def _decision(site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Digest:
    slot = digest.latest_slot(job.at, ZoneInfo(job.timezone), now)
    report = DigestReport(slot=slot.label)
    tables, subscribers = _read(site, report.problems)
    history, report.adopted = _history(site, ledger, job, tables)
    _remember_older_links(site, ledger, tables, subscribers)
    decision = Digest(job, now, tables, subscribers, report)
    if history and history[-1][0] >= slot.label:
        report.skipped = f"the {history[-1][0]} digest was already decided"
    else:
        decision.decided = _decide(
            site, ledger, now, job, slot, history, tables, subscribers, report
        )
    return decision


def _history(
    site: Site, ledger: Ledger, job: JobSettings, tables: dict[str, Tab]
) -> tuple[list[tuple[str, list[str]]], int]:
    """The digests this job decided: the ledger's, and those the Resources tab shows it lacks.

    The Resources tab's "Sent in digest" column says which digest carried each
    resource, so a lost or older ledger never sends a slot's digest again.
    Returns the history, oldest first, and how many slots came from the sheet.
    """
    history = dict(ledger.digest_history(job.name))
    shown: dict[str, list[str]] = {}
    for resource in _resources(site, tables)[0]:
        for job_name, slot in digest.sent_in(resource.sent_in):
            if job_name == job.name:
                shown.setdefault(slot, []).append(resource.key)
    adopted = {slot: keys for slot, keys in shown.items() if slot not in history}
    return sorted({**history, **adopted}.items()), len(adopted)


def _remember_older_links(
    site: Site, ledger: Ledger, tables: dict[str, Tab], subscribers: Sequence[Subscriber]
) -> None:
    """Derive again the tokens of links issued before sealed tokens, for all on the sheet.

    Those tokens are answered from the ledger; a rebuilt ledger (one that holds
    none) gets them back here, once.
    """
    if ledger.has_tokens():
        return
    if not subscribers and not _signups_ask(tables):
        return  # no reader: no older link to answer, and no signup parsed on every run to see so
    secret = site.secret()
    _, signups = _events_and_signups(site, tables)
    kept, signups, _ = digest_readers(open_privacy(site, ledger), subscribers, signups, "")
    # Streamed: an address met twice is one token, which the ledger keeps once.
    readers = itertools.chain(_rows(kept).emails, (s.email for s in signups if s.digest))
    ledger.remember_tokens((hmac_token(secret, email), email) for email in readers)


def _signups_ask(tables: dict[str, Tab]) -> bool:
    """Whether any row of the Signups tab asks for the digest."""
    if "signups" not in tables:
        return False
    return anyone_asks_for_the_digest(tables["signups"].table, tables["signups"].columns)


def _rows(subscribers: Sequence[Subscriber]) -> SubscriberRows:
    """Subscribers as rows held field by field (those read are already)."""
    return subscribers if isinstance(subscribers, SubscriberRows) else SubscriberRows(subscribers)


def _write_sent_in(site: Site, ledger: Ledger, job: JobSettings, tables: dict[str, Tab]) -> int:
    """Say in the Resources tab which digest carried each resource, where it does not yet."""
    if "resources" not in tables:
        return 0
    carried: dict[str, str] = {}
    for slot, keys in ledger.digest_history(job.name):
        for key in keys:
            carried.setdefault(key, slot)
    tab = tables["resources"]
    changes = []
    for resource in _resources(site, tables)[0]:
        carried_in = carried.get(resource.key)
        if carried_in is None or (job.name, carried_in) in digest.sent_in(resource.sent_in):
            continue
        text = digest.sent_in_text([*digest.sent_in(resource.sent_in), (job.name, carried_in)])
        changes.append(tab.change(resource.row, (resource.url,), "sent_in", resource.sent_in, text))
    if not changes:
        return 0
    written = site.sheet.write(tab, ["url"], changes, ["sent_in"])
    return written.written


def _decide(
    site: Site,
    ledger: Ledger,
    now: datetime,
    job: JobSettings,
    slot: Slot,
    history: list[tuple[str, list[str]]],
    tables: dict[str, Tab],
    subscribers: Sequence[Subscriber],
    report: DigestReport,
) -> SlotDigest | None:
    options = job.options_as(DigestOptions)
    resources, problems = _resources(site, tables)
    report.problems.extend(problems)
    sent_keys = {key for _, held in history for key in held}
    since = date.fromisoformat(history[-1][0]) if history else slot.previous.date()
    fresh = digest.new_resources(resources, sent_keys, since)
    if not fresh:
        report.skipped = f"no new resources since {since:%Y-%m-%d}; nothing sent"
        return None
    events, signups = _events_and_signups(site, tables, ledger)
    # Forgotten people, and opt-ins that lapsed with their retired session, get nothing.
    kept, signups, _ = digest_readers(open_privacy(site, ledger), subscribers, signups, "")
    readers = _rows(kept)
    left = digest.leavers(readers.unsubscribed_rows(), ledger.suppressed())
    default = site.settings.organization.language
    known = spellings(site.settings)
    codes: dict[str, str] = {}  # a language as the sheet gives it -> the site's code for it

    def code_of(language: str) -> str:
        if language not in codes:
            codes[language] = language_of(language, known) or default
        return codes[language]

    # Which languages have readers: a pass that keeps nothing per reader, and stops once
    # every language the rows name has a reader (at the first reader, on most sites).
    named = {code_of(language) for language in readers.named_languages()}
    named.update(code_of(s.language) for s in signups if s.digest)

    def readers_in(code: str) -> Iterator[Recipient]:
        """This language's readers, made again on each pass: never every recipient at once."""
        everyone = digest.audience(readers.recipients(), signups, left, readers.repeated)
        if named == {code}:  # the only language any row names: every reader's
            return everyone
        return (reader for reader in everyone if code_of(reader.language) == code)

    languages: set[str] = set()
    for reader in digest.audience(readers.recipients(), signups, left, readers.repeated):
        languages.add(code_of(reader.language))
        if languages == named:
            break
    secret = site.secret()
    where = (tables["resources"].table.tab, tables["resources"].columns["language"])
    fresh = [dataclasses.replace(r, language=_language(r, known, where, report)) for r in fresh]
    # With no reader at all the slot still holds what was new, as it always has.
    carried: list[str] = [] if languages else [r.key for r in fresh]
    drafts: list[Iterator[Draft]] = []
    # One shared body per language: the sections in it and those in no language.
    for code in sorted(languages):
        theirs = digest.for_language(fresh, code)
        if not theirs:
            continue
        words = site_speech(site, code)
        contents = Contents(
            groups=digest.grouped(theirs, options.categories),
            sessions=_sessions(events, ledger, now, options.upcoming_days, words),
        )
        links = _links(site, words)
        body = _body(site, options.template, contents, slot, words, links)
        drafts.append(_drafts(job, slot, body, links, readers_in(code), secret, now, words))
        carried.extend(r.key for r in theirs if r.key not in carried)
    if not carried:
        report.skipped = f"no new resources for any reader since {since:%Y-%m-%d}; nothing sent"
        return None
    report.resources = len(carried)
    return SlotDigest(slot.label, carried, itertools.chain(*drafts))


def _language(
    resource: Resource, known: dict[str, str], where: tuple[str, str], report: DigestReport
) -> str:
    """A resource's language code; blank, or a language the site lacks (reported): everyone's."""
    if not resource.language:
        return ""
    code = language_of(resource.language, known)
    if code is None:
        reason = (
            f"{resource.language[:60]!r} is not a language this site writes in; the"
            " resource goes to every reader"
        )
        report.problems.append(Problem(where[0], resource.row, where[1], reason, fatal=False))
        return ""
    return code


def _read(site: Site, problems: list[Problem]) -> tuple[dict[str, Tab], SubscriberRows]:
    """Every tab the digest needs, in one read; tabs the workbook lacks are left out.

    The Subscribers rows are parsed as they are read and kept field by field
    (bad rows go to `problems`): a large list is never held as rows, nor as
    Subscriber objects.
    """
    tables, rows = site.sheet.read_streaming(DIGEST_TABS, "subscribers")
    if "subscribers" not in tables:
        return tables, SubscriberRows()
    tab = tables["subscribers"]
    return tables, SubscriberRows.parsed(subscriber_fields(tab.table, tab.columns, problems, rows))


def _resources(site: Site, tables: dict[str, Tab]) -> tuple[list[Resource], list[Problem]]:
    if "resources" not in tables:
        return [], []
    return parse_resources(tables["resources"].table, tables["resources"].columns)


def _events_and_signups(
    site: Site, tables: dict[str, Tab], ledger: Ledger | None = None
) -> tuple[list[Event], list[Signup]]:
    """The sessions (under the ids the ledger knows them by) and every signup row that reads.

    A signup counts for the digest whatever session its answer names.
    """
    settings = site.settings
    zone = settings.organization.zone
    events: list[Event] = []
    if "events" in tables:
        parsed = parse_events(tables["events"].table, tables["events"].columns, str(zone))
        events = parsed.events
        if ledger is not None:
            stored = {i: s.event for i, s in ledger.stored_events().items()}
            events, _ = ledger_ids(events, stored, ledger.memory().aliases)
    if "signups" not in tables:
        return events, []
    signups = parse_signups(
        tables["signups"].table,
        tables["signups"].columns,
        events,
        zone,
        lambda identity, answer, cell: Resolution(answer or cell or "-"),
    )
    return events, signups.signups


def _sessions(
    events: Sequence[Event], ledger: Ledger, now: datetime, days: int, words: Speech
) -> list[dict[str, object]]:
    """Upcoming sessions with their seats left, as the last signups run decided them."""
    # A seat offered to someone on the waitlist is held for them: not free.
    taken = (roster.CONFIRMED, OFFERED)
    confirmed = Counter(s.event_id for s in ledger.seats() if s.status in taken)
    horizon = now + timedelta(days=days)
    return [
        {
            **event_view(event, "", words),
            "seats_left": max(event.capacity - confirmed[event.id], 0),
        }
        for event in sorted(events, key=lambda e: e.starts_at)
        if not event.cancelled and now < event.starts_at <= horizon
    ]


Link = tuple[str, str] | None  # the text before and after a reader's token; None: no link


def _links(site: Site, words: Speech) -> dict[str, Link]:
    """Each reader's links (person fields) as the same text around their token."""
    org = site.settings.organization
    public_url = site.settings.server.public_url.rstrip("/")
    # A token is URL-safe (base64url and a dot): it goes in as it is.
    mailto = (f"mailto:{org.reply_to or org.sender}?subject={quote('unsubscribe ')}", "")
    if not public_url:
        return {"unsubscribe_url": mailto, "unsubscribe_mailto": mailto, "forget_url": None}
    page = f"{public_url}/unsubscribe/"
    # The mark that opens the page in the reader's language: a token holds no "?" to change it.
    return {
        "unsubscribe_url": (page, with_language(page, words.code, site)[len(page) :]),
        "unsubscribe_mailto": mailto,
        "forget_url": (f"{public_url}/forget/", ""),
    }


def _derived(links: dict[str, Link]) -> tuple[tuple[str, str], ...]:
    """The links as the body makes them from each reader's token (Body.derived).

    Nothing when a link's own text holds what reads as a placeholder (a public
    URL may): then each message keeps its links whole, as they are.
    """
    if any(MARK in "".join(link) for link in links.values() if link):
        return ()
    token = placeholder("token")
    return tuple((name, _link(link, token)) for name, link in links.items())


def _link(link: Link, token: str) -> str:
    return f"{link[0]}{token}{link[1]}" if link else ""


def _body(
    site: Site,
    template: str,
    contents: Contents,
    slot: Slot,
    words: Speech,
    links: dict[str, Link],
) -> Body:
    org = site.settings.organization
    context = {
        "org": org,
        "groups": [
            {"category": category, "resources": [dataclasses.asdict(r) for r in items]}
            for category, items in contents.groups
        ],
        "sessions": contents.sessions,
        "slot": {"date": words.day(slot.starts)},
        # `mailer serve` answers it
        "forget_link": bool(site.settings.server.public_url),
    }
    prepared = site.renderer.prepare(template, context, words.code, words.direction)
    unsubscribe = [f"<{placeholder('unsubscribe_mailto')}>"]
    one_click = []
    if site.settings.server.public_url:
        unsubscribe.insert(0, f"<{placeholder('unsubscribe_url')}>")
        one_click.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    headers = (("List-Unsubscribe", ", ".join(unsubscribe)), *one_click)
    return dataclasses.replace(site_body(site, prepared, headers=headers), derived=_derived(links))


def _drafts(
    job: JobSettings,
    slot: Slot,
    body: Body,
    links: dict[str, Link],
    recipients: Iterable[Recipient],
    secret: str,
    now: datetime,
    words: Speech,
) -> Iterator[Draft]:
    """One draft per recipient, made as the ledger takes them (never all at once).

    Each keeps its token, from which its body makes its links (Body.derived):
    a third of the text each of 100,000 messages would keep with its links whole.
    """
    key_start = f"digest:{job.name}:{slot.label}:"
    friend = words.gettext("friend")
    created_at = now.astimezone(UTC)
    seal = unsubscribe_sealer(secret)
    for email, address, name, _ in recipients:
        token = seal(email)
        person = {
            "name": name,
            "first_name": name.split(" ")[0] if name else friend,
            "email": address,
        }
        if body.derived:
            person["token"] = token
        else:
            person.update((field, _link(link, token)) for field, link in links.items())
        yield Draft(key_start + email, "digest", "", address, name, created_at, body, person)
