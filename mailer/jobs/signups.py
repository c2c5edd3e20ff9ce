"""The signups job: read the sheet, hold each session to capacity, say who is told what.

`decide_in_full` plans from what a pass read (mailer.jobs.signups_pass, the
job's entry, reads and spares a pass whose inputs did not change); the runner
records the plan, delivers its emails, and then asks it to write back
(jobs/base.py). The pieces around the plan
live beside this module: the report (signups_report), the Series tab
(series_dates), the release form's answers (release_answers), the signup
form (signup_form) and the signups tab's columns (signups_write_back).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, overload

from mailer.jobs import unchanged
from mailer.jobs.release_answers import take_answers
from mailer.jobs.retention import acted_on, digest_readers, open_privacy
from mailer.jobs.signup_form import keep_form_in_step
from mailer.jobs.signups_report import EventSummary, SignupsReport
from mailer.jobs.signups_write_back import JOB_COLUMNS, status_changes, write_statuses
from mailer.jobs.subscribers import write_unsubscribes
from mailer.ledger import Ledger
from mailer.ledger.records import Decisions, SeatRow
from mailer.mail.message import Draft
from mailer.model import Event, Problem, Signup, StoredEvent, normalize_email
from mailer.rules import adoption, binding, changes, claims, roster, self_service
from mailer.rules.adoption import Adopted
from mailer.rules.binding import EventMatcher, Memory, Renamed
from mailer.rules.changes import EventChange
from mailer.rules.dates import doubtful_sessions
from mailer.rules.form_choices import FormChoices, form_choices
from mailer.rules.languages import language_of
from mailer.rules.roster import Notice, Plan
from mailer.rules.self_service import CLAIM, RELEASE, Request
from mailer.rules.statuses import CONFIRMED, OFFERED
from mailer.settings.config import JobSettings
from mailer.settings.languages import spellings, unknown_language
from mailer.settings.secret import site_secret
from mailer.sheet.session_dates import date_problems
from mailer.sheet.tabs import (
    Columns,
    HeldRow,
    Parsed,
    parse_events,
    parse_members,
    parse_signups,
    parse_subscribers,
)
from mailer.sheet.view import Tab
from mailer.site import Site

__all__ = ["EventSummary", "Signups", "SignupsReport", "decide_in_full"]


@dataclass
class Signups:
    """One pass's plan for every session, with the sheet as it was read."""

    report: SignupsReport
    tables: dict[str, Tab]  # by logical name: "events", "signups", ...
    parsed: Parsed
    planned: Planned
    decisions: Decisions
    choices: FormChoices
    seat_links: bool  # the emails carry release or claim links
    fingerprint: str | None = None  # of what this pass read (mailer.jobs.unchanged)
    ledger_state: str = ""  # the ledger's state token as this pass found it
    moments: list[datetime] = field(default_factory=list)  # what the fingerprint turns on

    def record(self, site: Site, ledger: Ledger) -> None:
        self.report.decided = ledger.record(self.decisions)
        # The ledger holds what was decided now: none of it need stay while messages go out.
        self.decisions = Decisions()
        self.planned.mail.clear()
        self.planned.seats.clear()
        if self.seat_links:  # the emails carry seat links: index them before they go out
            ledger.index_seat_tokens(site_secret(site.settings))

    def write_back(self, site: Site, ledger: Ledger) -> None:
        """Unsubscribes to Subscribers, statuses to the signups tab, open sessions to the form.

        What went out stays reported as sent: each step fails on its own line.
        """
        report = self.report
        if "subscribers" in self.tables:
            with report.step("Subscribers tab update"):
                # Every few minutes, not only at the digest's slot: a lost ledger must not forget.
                subscribers_table = self.tables["subscribers"]
                subscribers, _ = parse_subscribers(
                    subscribers_table.table, subscribers_table.columns
                )
                _, _, forgotten = digest_readers(
                    open_privacy(site, ledger),
                    subscribers,
                    self.parsed.signups,
                    subscribers_table.table.tab,
                )
                report.problems.extend(forgotten)
                report.cells_written += write_unsubscribes(
                    site, ledger, subscribers_table, subscribers, lambda: self.parsed.signups
                )
        with report.step("sheet write-back"):
            # The tab as read, its rows' parse and the plans are handed over, not kept (no
            # name here holds them): they go once the changes are made, before the write
            # reads the tab again.
            changes = status_changes(
                site,
                ledger,
                self.tables.pop("signups"),
                self._handed_parse(),
                self.planned.handed_plans(),
                self.planned.offered,
            )
            write_statuses(site, ledger, changes, report)
        if site.forms is not None:
            with report.step("signup form update"):
                keep_form_in_step(site, site.forms, ledger, self.choices, report)
        self._keep_fingerprint(ledger)

    def _handed_parse(self) -> Parsed:
        """The rows as parsed, no longer kept here: the statuses' changes are their last use."""
        parsed, self.parsed = self.parsed, Parsed()
        return parsed

    def _keep_fingerprint(self, ledger: Ledger) -> None:
        """A pass that changed nothing keeps what it read; any other forgets what was kept."""
        report = self.report
        if (
            self.fingerprint is not None
            and report.changed_nothing()
            and ledger.state_token() == self.ledger_state
        ):
            shown = [(e.event, e.confirmed, e.waitlisted, e.new_messages) for e in report.events]
            data = unchanged.report_data(shown, report.problems, report.warnings, self.moments)
            ledger.set_fingerprint(unchanged.JOB_NAME, self.fingerprint, data)
        else:
            ledger.set_fingerprint(unchanged.JOB_NAME, None)


@dataclass
class Read:
    """What a pass read (mailer.jobs.signups_pass) and its fingerprint, for every session's plan."""

    tables: dict[str, Tab]  # by logical name: "events", "signups", ...
    report: SignupsReport
    window: timedelta | None  # how long an offered seat is held, if seats are offered
    answers: str  # how people's answers reach mailer (mailer.rules.answers)
    fingerprint: str | None  # of what was read; None when a step of the read wrote
    ledger_state: str  # the ledger's state token as the pass found it
    moments: list[datetime]  # each moment a decision turns on (mailer.jobs.unchanged)


class Bindings(Sequence[tuple[str, str, str]]):
    """Each signup's (stamp, email, session id), made as the ledger reads it, not held."""

    def __init__(self, signups: Sequence[Signup]):
        self.signups = signups

    def __len__(self) -> int:
        return len(self.signups)

    @overload
    def __getitem__(self, at: int) -> tuple[str, str, str]: ...

    @overload
    def __getitem__(self, at: slice) -> Bindings: ...

    def __getitem__(self, at: int | slice) -> tuple[str, str, str] | Bindings:
        if isinstance(at, slice):
            return Bindings(self.signups[at])
        signup = self.signups[at]
        return (*signup.identity, signup.event_id)


class Letter(NamedTuple):
    """One notice's email as decided, with what its draft says of the person."""

    notice: Notice
    signup: Signup
    member: bool
    invited: bool  # had a calendar invitation before this pass
    position: int | None
    language: str


class SessionMail(NamedTuple):
    """One session's emails as decided; drafted only as the ledger takes them."""

    event: Event
    change: EventChange
    letters: list[Letter]


@dataclass
class Planned:
    """Every session's plan and what it makes, gathered session by session."""

    plans: list[Plan] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    seats: list[SeatRow] = field(default_factory=list)
    mail: list[SessionMail] = field(default_factory=list)
    adopted: list[Adopted] = field(default_factory=list)
    applied: list[tuple[str, datetime]] = field(default_factory=list)  # each request read, once
    offered: dict[tuple[str, str], datetime] = field(default_factory=dict)  # until when

    def handed_plans(self) -> list[Plan]:
        """The plans, no longer kept here: the write-back lets them go once it has used them."""
        plans, self.plans = self.plans, []
        return plans


@dataclass
class Known:
    """What the ledger knew before this pass, keyed the way each session's plan asks for it."""

    memory: Memory
    by_event: dict[str, list[Signup]]
    by_row: dict[int, Signup]
    seats: dict[tuple[str, str], SeatRow]
    last_sent: dict[tuple[str, str], str]
    asked: dict[str, list[Request]]
    offers: dict[str, dict[str, datetime]]
    stored: dict[str, StoredEvent]
    languages: dict[int, str] = field(default_factory=dict)  # by row: the answer's language


def decide_in_full(
    site: Site,
    ledger: Ledger,
    job: JobSettings,
    now: datetime,
    read: Read,
) -> Signups:
    """Every session's plan, from the tabs a pass read (mailer.jobs.signups_pass)."""
    settings = site.settings
    tables, report, window = read.tables, read.report, read.window
    stored = ledger.stored_events()
    # Retired sessions' answers are still bound (by keyed hash); they and forgotten people's
    # answers are left alone (mailer.jobs.retention).
    privacy = open_privacy(site, ledger)
    memory = ledger.memory()
    parsed, renames = _parse(site, tables, stored, privacy.remembering(memory), now)
    report.problems.extend(parsed.problems)
    parsed, forgotten = acted_on(privacy, parsed, tables["signups"].table.tab)
    report.problems.extend(forgotten)
    report.warnings.extend(
        f"events row {r.row}: id {r.sheet_id!r} is session {r.event_id!r} renamed (same time"
        " and title); its seats and emails carry over"
        for r in renames
    )
    languages, unknown = _languages(site, tables["signups"], parsed.signups)
    report.problems.extend(unknown)
    missing = _missing(parsed, stored, now, report)
    if "releases" in tables:
        report.warnings.extend(take_answers(site, ledger, tables["releases"], now))
    known = _known(ledger, parsed, stored, languages)
    planned = Planned()
    for event in parsed.events:
        _plan_event(site, ledger, event, known, window, now, parsed.members, planned, report)
    report.adopted = len(planned.adopted)
    confirmed = {p.event_id: p.confirmed for p in planned.plans}
    choices = form_choices(parsed.events, confirmed, now, settings.form.waitlist)
    decided = Decisions(
        events=planned.events,
        seats=planned.seats,
        drafts=_drafts(site, planned.mail, planned.offered, now),
        bindings=Bindings(parsed.signups),
        names=[
            *_names(parsed.events),
            *((normalize_email(text), event_id) for event_id, text in choices.by_event.items()),
        ],
        aliases=[(r.sheet_id, r.event_id) for r in renames],
        adopted=planned.adopted,
        missing=missing,
        applied=planned.applied,
    )
    # From here on only the write-back reads the rows as read, and only mailer's own columns.
    tables["signups"].keep_only(JOB_COLUMNS)
    signups = Signups(report, tables, parsed, planned, decided, choices, bool(read.answers))
    signups.fingerprint, signups.ledger_state = read.fingerprint, read.ledger_state
    signups.moments = read.moments
    return signups


def _known(
    ledger: Ledger, parsed: Parsed, stored: dict[str, StoredEvent], languages: dict[int, str]
) -> Known:
    asked: dict[str, list[Request]] = {}
    for request in ledger.open_requests():
        asked.setdefault(request.event_id, []).append(request)
    offers: dict[str, dict[str, datetime]] = {}
    for (_, event_id, email), at in ledger.sent_at((claims.OFFER,)).items():
        offers.setdefault(event_id, {})[email] = datetime.fromisoformat(at)
    by_event: dict[str, list[Signup]] = {e.id: [] for e in parsed.events}
    for signup in parsed.signups:
        by_event[signup.event_id].append(signup)
    return Known(
        memory=ledger.memory(),
        by_event=by_event,
        by_row={s.row: s for s in parsed.signups},
        seats={(s.event_id, s.email): s for s in ledger.seats()},
        last_sent=ledger.last_sent(),
        asked=asked,
        offers=offers,
        stored=stored,
        languages=languages,
    )


def _plan_event(
    site: Site,
    ledger: Ledger,
    event: Event,
    known: Known,
    window: timedelta | None,
    now: datetime,
    members: set[str],
    out: Planned,
    report: SignupsReport,
) -> None:
    """Plan one session: its roster, the change people hear of, the emails, the seats."""
    signups = known.by_event[event.id]
    moves = binding.corrected_addresses(event.id, signups, known.memory.bindings)
    previous = ledger.previous(event.id).moved(moves)
    report.warnings.extend(
        f"{event.shown_id}: an address was corrected in the sheet; the place follows it"
        " and the email goes to the new address"
        for _ in moves
    )
    zone = site.settings.organization.zone
    found = adoption.adopt(event.id, signups, previous, known.last_sent, zone)
    out.adopted.extend(found)
    previous = adoption.with_adopted(previous, found)
    asked = known.asked.get(event.id, [])
    requests = asked if now < event.starts_at else []
    effective = self_service.with_requests(previous, requests)
    if window is None:
        plan = roster.plan(event, signups, effective, now)
    else:
        offers = known.offers.get(event.id, {})
        plan, ends = _with_offers(event, signups, effective, offers, requests, window, now)
        out.offered.update(((event.id, email), at) for email, at in ends.items())
    change = changes.detect(event, known.stored.get(event.id), plan, previous, now)
    change = self_service.with_room_for_reinvitation(change, plan)
    acks = self_service.acknowledgements(
        plan,
        previous,
        {r.email for r in requests if r.action == RELEASE},
        organizer_too=site.settings.self_service.acknowledge_organizer_cancels,
        open_for_notices=now < event.starts_at and not event.cancelled,
    )
    out.applied.extend((r.token, now) for r in asked)
    report.requests += len(requests)
    # The notices go on in the letters; the plan is kept for the write-back without them.
    out.plans.append(dataclasses.replace(plan, notices=[]))
    out.events.append(StoredEvent(event, change.sequence))
    out.seats.extend(_seat_rows(plan, known, previous))
    out.mail.append(
        SessionMail(event, change, _letters(event, plan, change, previous, known, members, acks))
    )
    report.warnings.extend(plan.warnings)
    report.problems.extend(_held_problems(site, plan, known.by_row))
    if plan.kept and event.ends_at > now:
        report.warnings.append(_kept_warning(event, plan.kept))
    if event.ends_at > now:
        notices = plan.notices + change.notices + acks
        report.events.append(
            EventSummary(event, plan.confirmed, plan.waitlisted, Counter(n.kind for n in notices))
        )


def _missing(
    parsed: Parsed, stored: dict[str, StoredEvent], now: datetime, report: SignupsReport
) -> list[str]:
    """Sessions the ledger knows that the events tab no longer shows: warned, never cancelled."""
    present = {e.id for e in parsed.events}
    held = Counter(h.event_id for h in parsed.held)
    missing = []
    for event_id, kept in stored.items():
        if event_id in present:
            continue
        missing.append(event_id)
        if kept.event.ends_at > now:
            report.warnings.append(
                f"session {kept.event.shown_id!r} ({kept.event.title}, "
                f"{kept.event.starts_at:%a %b %d %H:%M}) is not on the events tab, or its row"
                f" has a problem: nothing is sent about it, no reminder goes, and its"
                f" {held[event_id]} signup rows are left as they are. Put the row back, or set"
                " its status to cancelled to tell people."
            )
    return missing


def _with_offers(
    event: Event,
    signups: list[Signup],
    previous: roster.Previous,
    offers: dict[str, datetime],
    requests: list[Request],
    window: timedelta,
    now: datetime,
) -> tuple[Plan, dict[str, datetime]]:
    """The roster's plan with freed seats offered for `window` (mailer.rules.claims)."""
    claimed = {
        r.email
        for r in requests
        if r.action == CLAIM
        and r.email in offers
        and r.at < claims.until(event, offers[r.email], window)
    }
    passed_over = claims.lapsed(event, offers, claimed, previous.statuses, window, now)
    plan = roster.plan(event, signups, previous, now, passed_over)
    by_hand = {
        s.email
        for s in signups
        if s.status == CONFIRMED and previous.written.get(s.email) != CONFIRMED
    }
    holding = {
        email
        for email in offers
        if previous.statuses.get(email) == OFFERED and email not in passed_over
    }
    held = claims.hold(event, plan, offers, claimed, by_hand, holding, window, now)
    return held.plan, held.until


def _names(events: list[Event]) -> list[tuple[str, str]]:
    """Every id and label a session is shown by now, so answers given with them still match."""
    return [
        (normalize_email(name), event.id)
        for event in events
        for name in (event.id, event.sheet_id, event.label)
        if name
    ]


def _held_problems(site: Site, plan: Plan, by_row: dict[int, Signup]) -> list[Problem]:
    tab = site.sheet.tab_name("signups")
    header = site.sheet.header("signups", "status")
    return [
        Problem(tab, row, header, decision.problem, fatal=False)
        for row, decision in plan.rows.items()
        if decision.problem
    ]


def _kept_warning(event: Event, kept: list[str]) -> str:
    people = (
        "1 person with a place has" if len(kept) == 1 else f"{len(kept)} people with a place have"
    )
    return (
        f"{event.shown_id}: {people} no row on the signups tab"
        " that mailer can read (deleted, or joined to another row); their places are kept"
        " as they were (put the row back, with Status cancelled to free a seat)"
    )


def _seat_rows(plan: Plan, known: Known, previous: roster.Previous) -> list[SeatRow]:
    """Every seat of the plan; a seat kept without a row keeps what the ledger knew of it."""
    rows = []
    for email, seat in plan.seats.items():
        signup = known.by_row.get(seat.row)
        before = known.seats.get((plan.event_id, email))
        if signup is not None and signup.email == email:
            address, name = signup.address, signup.name
            language = _language_of(signup, known.languages, before)
        elif before is not None:
            address, name, language = before.address, before.name, before.language
        else:
            address, name, language = email, "", ""
        rows.append(
            SeatRow(
                plan.event_id,
                email,
                seat.status,
                seat.position,
                seat.row,
                address,
                name,
                written=previous.written.get(email, ""),
                language=language,
            )
        )
    return rows


def _languages(site: Site, tab: Tab, signups: list[Signup]) -> tuple[dict[int, str], list[Problem]]:
    """Each signup row's language (by row); an answer naming none the site has is reported."""
    settings = site.settings
    spelled: dict[str, str] | None = None  # CLDR's names load only if some row names a language
    found: dict[int, str] = {}
    problems = []
    header = tab.columns["language"]
    for signup in signups:
        if not signup.language:
            continue
        if spelled is None:
            spelled = spellings(settings)
        code = language_of(signup.language, spelled)
        if code is None:
            reason = unknown_language(settings, signup.language)
            problems.append(Problem(tab.table.tab, signup.row, header, reason, False))
            continue
        found[signup.row] = code
    return found, problems


def _language_of(signup: Signup, languages: dict[int, str], before: SeatRow | None) -> str:
    """The row's answer; a row with none keeps the language the seat had ("" for the default)."""
    if signup.row in languages:
        return languages[signup.row]
    return before.language if before is not None and not signup.language else ""


def _letters(
    event: Event,
    plan: Plan,
    change: EventChange,
    previous: roster.Previous,
    known: Known,
    members: set[str],
    acks: list[Notice],
) -> list[Letter]:
    """A letter per notice to a person the signups tab still shows."""
    letters = []
    for notice in plan.notices + change.notices + acks:
        signup = known.by_row.get(notice.row)
        if signup is None or signup.email != notice.email:
            continue  # a cancellation to a seat whose row is gone: it has no address here
        language = _language_of(signup, known.languages, known.seats.get((event.id, signup.email)))
        letters.append(
            Letter(
                notice,
                signup,
                member=signup.member or signup.email in members,
                invited=changes.invited(previous, notice.email),
                position=plan.seats[signup.email].position,
                language=language,
            )
        )
    return letters


def _drafts(
    site: Site,
    mail: list[SessionMail],
    offered: dict[tuple[str, str], datetime],
    now: datetime,
) -> Iterator[Draft]:
    """A draft per letter, made as the ledger takes it; one body per variant of a session.

    A variant is a kind, member or not, invited or not, and a language; a session's
    bodies go once its drafts are taken, so no run holds every session's drafts at once.
    """
    from mailer.mail.emails import EventEmails  # templates load only when there is news

    for event, change, letters in mail:
        if not letters:
            continue
        emails = EventEmails(site, event, now, change)
        for notice, signup, member, invited, position, language in letters:
            ends = offered.get((event.id, notice.email))
            local = ends.astimezone(event.starts_at.tzinfo) if ends else None
            yield emails.draft(
                notice,
                address=signup.address,
                name=signup.name,
                member=member,
                invited=invited,
                position=position,
                offer_until=emails.moment(local, language) if local else "",
                language=language,
            )


def _parse(
    site: Site,
    tables: dict[str, Tab],
    stored: dict[str, StoredEvent],
    memory: Memory,
    now: datetime,
) -> tuple[Parsed, list[Renamed]]:
    """Events under the ids the ledger knows them by, each answer bound to its session.

    A session whose dates cannot be right is left out, as a problem, and its
    answers are held: left as they are (mailer.rules.dates).
    """
    settings = site.settings
    zone = settings.organization.zone
    events = parse_events(tables["events"].table, tables["events"].columns, str(zone))
    known, renames = binding.ledger_ids(
        events.events, {i: s.event for i, s in stored.items()}, memory.aliases
    )
    memory = dataclasses.replace(
        memory, aliases={**memory.aliases, **{r.sheet_id: r.event_id for r in renames}}
    )
    resolver = binding.Resolver(known, memory, events.troubled)
    signups = parse_signups(
        tables["signups"].table, tables["signups"].columns, known, zone, resolver
    )
    members = Parsed()
    if "members" in tables:
        members = parse_members(tables["members"].table, tables["members"].columns)
    doubts = doubtful_sessions(known, signups.signups, set(stored), now)
    doubted = {d.event_id: d for d in doubts}
    why = "its session's date cannot be right"
    held = [
        HeldRow(s.row, s.email, s.event_id, why) for s in signups.signups if s.event_id in doubted
    ]
    # A rejected answer naming such a session is left alone too: nothing on its rows changes.
    naming = EventMatcher([e for e in known if e.id in doubted])
    answers = Columns(tables["signups"].table, tables["signups"].columns, ())
    table = tables["signups"].table
    rejected = []
    for row in signups.rejected:
        event_id = naming.find(answers.get(table.rows[row.row - 2], "event"))
        if event_id is None:
            rejected.append(row)
        else:
            held.append(HeldRow(row.row, normalize_email(row.key[1]), event_id, why))
    parsed = Parsed(
        events=[e for e in known if e.id not in doubted],
        signups=[s for s in signups.signups if s.event_id not in doubted],
        rejected=rejected,
        held=signups.held + held,
        members=members.members,
        problems=events.problems
        + date_problems(tables["events"].table, tables["events"].columns, doubts)
        + signups.problems
        + members.problems,
    )
    return parsed, renames
