"""The signups job: read the sheet, hold each session to capacity, email, write statuses back."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from mailer.core.durations import seconds
from mailer.core.errors import MailerError, MissingColumnError, WorkbookError
from mailer.core.text import plural
from mailer.core.tokens import load_secret
from mailer.jobs.base import Send, delivered_text
from mailer.jobs.subscribers import write_unsubscribes
from mailer.ledger.sqlite import Decisions, Ledger, SeatRow
from mailer.mail.emails import EventEmails
from mailer.mail.message import Draft
from mailer.model import Event, Problem, Signup, normalize_email
from mailer.rules import adoption, binding, changes, claims, roster, self_service
from mailer.rules.adoption import notified_text
from mailer.rules.binding import EventMatcher, Memory, Renamed
from mailer.rules.changes import EventChange, StoredEvent
from mailer.rules.dates import doubtful_sessions
from mailer.rules.form_choices import FormChoices, form_choices
from mailer.rules.languages import language_of
from mailer.rules.roster import Notice, Plan, RowDecision
from mailer.rules.self_service import CLAIM, RELEASE, Request
from mailer.rules.series import events_row, sessions_ahead
from mailer.rules.statuses import CANCELLED, CONFIRMED, OFFERED, canonical
from mailer.settings.config import JobSettings, Settings
from mailer.settings.kinds import SignupsOptions
from mailer.settings.languages import spellings, unknown_language
from mailer.settings.schema import REQUIRED_COLUMNS
from mailer.sheet.backends import CellChange, Table, WritePlan
from mailer.sheet.google_form import FormError, FormReport, FormsClient, keep_in_step
from mailer.sheet.series_tab import parse_series
from mailer.sheet.session_dates import date_problems
from mailer.sheet.tabs import (
    Columns,
    HeldRow,
    Parsed,
    parse_datetime,
    parse_events,
    parse_members,
    parse_signups,
    parse_subscribers,
)
from mailer.sheet.workbook import Skipped
from mailer.site import Site

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("mailer.signups")
JOB_COLUMNS = ("status", "position", "notified", "note", "session")
EMAIL_FAILED = "email failed: "


@dataclass
class EventSummary:
    event: Event
    confirmed: int
    waitlisted: int
    new_messages: Counter


@dataclass
class SignupsReport:
    zone: ZoneInfo
    events: list[EventSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decided: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    cells_written: int = 0
    skipped_writes: list[Skipped] = field(default_factory=list)
    adopted: int = 0  # emails the sheet showed as sent that the ledger had no record of
    series_added: int = 0  # Events rows added for the Series tab
    form: FormReport | None = None  # what keeping the signup form in step did
    requests: int = 0  # people's own answers (a release, leaving the waitlist) acted on
    failed_steps: list[str] = field(default_factory=list)  # after the send: "step: why"

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A step after the send: its failure is its own line and the steps after it still run."""
        try:
            yield
        except MailerError as err:
            log.error("%s failed: %s", name, err)
            self.failed_steps.append(f"{name} failed: {err}")

    def summary(self) -> str:
        rejected = plural(len(self.rejected), "row")
        line = f"{self.decided} new, {delivered_text(self.delivered)}, {rejected} rejected"
        return "; ".join([line, *self.failed_steps])

    def show(self, console: Console, job: JobSettings) -> None:
        from rich.table import Table as RichTable

        table = RichTable(title="Signups", title_justify="left")
        for column in ("Session", "Starts", "Confirmed", "Waitlisted", "New emails"):
            table.add_column(column, no_wrap=column != "New emails")
        for each in self.events:
            event = each.event
            new = ", ".join(f"{n} {kind}" for kind, n in sorted(each.new_messages.items()))
            table.add_row(
                event.shown_id + (" (cancelled)" if event.cancelled else ""),
                f"{event.starts_at.astimezone(self.zone):%a %b %d %H:%M}",
                f"{each.confirmed}/{event.capacity}",
                str(each.waitlisted),
                new or "-",
            )
        console.print(table if self.events else "No upcoming sessions in the workbook.")
        console.print(
            f"Emails: {self.decided} new, {delivered_text(self.delivered)}."
            f" Sheet: {plural(self.cells_written, 'cell')} written."
        )
        if self.series_added:
            added = plural(self.series_added, "session")
            console.print(f"Series: {added} added to the Events tab.")
        if self.form is not None and self.form.changed:
            state = "accepting responses" if self.form.accepting else "not accepting responses"
            offered = plural(len(self.form.options), "choice")
            console.print(f"Signup form: now {offered}, {state}.")
        if self.requests:
            people = plural(self.requests, "person", "people")
            console.print(f"{people} gave up their place from the link in an email.")
        if self.adopted:
            console.print(
                f"Rebuilt from the sheet: the ledger had no record of"
                f" {plural(self.adopted, 'email')} that the Notified column shows as sent;"
                " they are taken as sent, never sent again.",
                soft_wrap=True,
            )
        if self.rejected:
            rows = plural(len(self.rejected), "row")
            console.print(f"[bold]{rows} rejected[/bold] (fix in the sheet):")
        lines = [f"  {p}" for p in self.rejected]
        lines += [f"  note: {p}" for p in self.problems if not p.fatal]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [
            f"  not written: row {s.row} {s.column}: {s.reason} (the next run tries again)"
            for s in self.skipped_writes
        ]
        for line in lines:
            console.print(line, markup=False, soft_wrap=True)
        for failed in self.failed_steps:
            console.print(
                f"  after sending, the {failed} (what was sent above stays sent)",
                markup=False,
                soft_wrap=True,
            )


def run(site: Site, ledger: Ledger, job: JobSettings, now: datetime, send: Send) -> SignupsReport:
    """One pass of the job, as of `now`. The caller holds the ledger's lock."""
    settings = site.settings
    options = job.options
    window = options.claim_window if isinstance(options, SignupsOptions) else None
    tabs = ["events", "signups", "members", "subscribers"]
    if settings.series.ahead:
        tabs.append("series")
    answers = self_service.way(settings.server.public_url, settings.self_service.form_url)
    if answers == self_service.FORM:
        tabs.append("releases")
    names = {tab: settings.workbook.tab(tab) for tab in tabs}
    tables = site.workbook.read(list(names.values()))
    for tab in ("events", "signups"):
        if names[tab] not in tables:
            raise WorkbookError(f"the workbook has no tab {names[tab]!r} ({tab})")
    readable_or_stop(settings, tables, names)  # read, decide, then act: nothing sent yet
    report = SignupsReport(settings.organization.zone)
    if "series" in names and names["series"] in tables:
        report.series_added = _add_series_dates(site, ledger, tables, names, now, report)
    stored = ledger.stored_events()
    memory = ledger.memory()
    parsed, renames = _parse(site, tables, names, stored, memory, now)
    report.problems.extend(parsed.problems)
    report.warnings.extend(
        f"events row {r.row}: id {r.sheet_id!r} is session {r.event_id!r} renamed (same time"
        " and title); its seats and emails carry over"
        for r in renames
    )
    languages, unknown = _languages(site, tables[names["signups"]].tab, parsed.signups)
    report.problems.extend(unknown)
    missing = _missing(parsed, stored, now, report)
    if names.get("releases") in tables:
        report.warnings.extend(_take_answers(site, ledger, tables[names["releases"]], now))
    asked: dict[str, list[Request]] = {}
    for request in ledger.open_requests():
        asked.setdefault(request.event_id, []).append(request)
    acknowledge_all = settings.self_service.acknowledge_organizer_cancels
    offers: dict[str, dict[str, datetime]] = {}
    for (_, event_id, email), at in ledger.sent_at((claims.OFFER,)).items():
        offers.setdefault(event_id, {})[email] = datetime.fromisoformat(at)
    offered: dict[tuple[str, str], datetime] = {}

    by_event: dict[str, list[Signup]] = {e.id: [] for e in parsed.events}
    for signup in parsed.signups:
        by_event[signup.event_id].append(signup)
    by_row = {s.row: s for s in parsed.signups}
    known_seats = {(s.event_id, s.email): s for s in ledger.seats()}
    last_sent = ledger.last_sent()

    decided = Decisions(
        bindings=[(*s.identity, s.event_id) for s in parsed.signups],
        names=_names(parsed.events),
        aliases=[(r.sheet_id, r.event_id) for r in renames],
        missing=missing,
    )
    plans, events, seats, drafts, adopted = [], [], [], [], []
    applied: list[tuple[str, datetime]] = []  # every request read is acted on once, or dropped
    for event in parsed.events:
        moves = binding.corrected_addresses(event.id, by_event[event.id], memory.bindings)
        previous = ledger.previous(event.id).moved(moves)
        report.warnings.extend(
            f"{event.shown_id}: an address was corrected in the sheet; the place follows it"
            " and the email goes to the new address"
            for _ in moves
        )
        found = adoption.adopt(
            event.id, by_event[event.id], previous, last_sent, settings.organization.zone
        )
        adopted.extend(found)
        previous = adoption.with_adopted(previous, found)
        requests = asked.get(event.id, []) if now < event.starts_at else []
        effective = self_service.with_requests(previous, requests)
        if window is None:
            plan = roster.plan(event, by_event[event.id], effective, now)
        else:
            plan, ends = _with_offers(
                event,
                by_event[event.id],
                effective,
                offers.get(event.id, {}),
                requests,
                window,
                now,
            )
            offered.update(((event.id, email), at) for email, at in ends.items())
        change = changes.detect(event, stored.get(event.id), plan, previous, now)
        change = self_service.with_room_for_reinvitation(change, plan)
        acks = self_service.acknowledgements(
            plan,
            previous,
            {r.email for r in requests if r.action == RELEASE},
            organizer_too=acknowledge_all,
            open_for_notices=now < event.starts_at and not event.cancelled,
        )
        applied.extend((r.token, now) for r in asked.get(event.id, []))
        report.requests += len(requests)
        plans.append(plan)
        events.append(StoredEvent(event, change.sequence))
        seats.extend(_seat_rows(plan, by_row, previous, known_seats, languages))
        drafts.extend(
            _drafts(
                site,
                event,
                plan,
                change,
                previous,
                by_row,
                parsed.members,
                now,
                acks,
                offered,
                languages,
                known_seats,
            )
        )
        report.warnings.extend(plan.warnings)
        report.problems.extend(_held_problems(site, plan, by_row))
        if plan.kept and event.ends_at > now:
            report.warnings.append(_kept_warning(event, plan.kept))
        if event.ends_at > now:
            notices = plan.notices + change.notices + acks
            report.events.append(
                EventSummary(
                    event, plan.confirmed, plan.waitlisted, Counter(n.kind for n in notices)
                )
            )
    decided.events, decided.seats, decided.drafts, decided.adopted = events, seats, drafts, adopted
    confirmed = {p.event_id: p.confirmed for p in plans}
    choices = form_choices(parsed.events, confirmed, now, settings.form.waitlist)
    decided.names = [
        *decided.names,
        *((normalize_email(text), event_id) for event_id, text in choices.by_event.items()),
    ]
    decided.applied = applied
    report.adopted = len(adopted)
    report.decided = ledger.record(decided)
    if answers:  # the emails carry seat links: index them before they go out
        ledger.index_seat_tokens(_secret(site))
    report.delivered = send()
    # What went out stays reported as sent: each step after the send fails on its own line.
    with report.step("sheet write-back"):
        _write_statuses(site, tables[names["signups"]], parsed, plans, ledger, offered, report)
    if names["subscribers"] in tables:
        with report.step("Subscribers tab update"):
            # Every few minutes, not only at the digest's slot: a lost ledger must not forget.
            subscribers_table = tables[names["subscribers"]]
            subscribers, _ = parse_subscribers(
                subscribers_table, settings.workbook.column_map("subscribers")
            )
            report.cells_written += write_unsubscribes(
                site, ledger, subscribers_table, subscribers, parsed.signups
            )
    if site.forms is not None:
        with report.step("signup form update"):
            _keep_form_in_step(site, site.forms, ledger, choices, report)
    return report


def readable_or_stop(settings: Settings, tables: dict[str, Table], names: dict[str, str]) -> None:
    """Every tab read holds its required columns, or the job stops here, before it acts."""
    for logical, name in names.items():
        table = tables.get(name)
        if table is None or logical == "releases":  # a release tab's trouble is a warning
            continue
        try:
            Columns(table, settings.workbook.column_map(logical), REQUIRED_COLUMNS[logical])
        except MissingColumnError as err:
            raise WorkbookError(
                f"{err}. The signups job stopped before sending or writing anything."
            ) from err


def _write_statuses(
    site: Site,
    table: Table,
    parsed: Parsed,
    plans: list[Plan],
    ledger: Ledger,
    offered: dict[tuple[str, str], datetime],
    report: SignupsReport,
) -> None:
    """Write Status, Position, Notified, Note back; the ledger learns which cells now hold them."""
    settings = site.settings
    cell_changes = _write_back(site, table, parsed, plans, ledger, offered)
    skipped: list[Skipped] = []
    if cell_changes:
        mapping = settings.workbook.column_map("signups")
        written: WritePlan = site.workbook.write(
            table.tab,
            [mapping[c] for c in ("timestamp", "email")],
            cell_changes,
            columns=[mapping[c] for c in JOB_COLUMNS],
        )
        report.cells_written = len(written.cells)
        skipped = report.skipped_writes = written.skipped
    status_header = settings.workbook.column_map("signups")["status"]
    not_written = {s.row for s in skipped if s.column == status_header}
    by_row = {s.row: s for s in parsed.signups}
    ledger.set_written(_written_cells(plans, by_row, not_written))


def _keep_form_in_step(
    site: Site, forms: FormsClient, ledger: Ledger, choices: FormChoices, report: SignupsReport
) -> None:
    """Offer the open sessions on the signup form; no call when it already offers them."""
    wanted = (choices.options, choices.accepting)
    pushed = ledger.form_pushed(forms.form)
    if pushed == wanted:
        return
    try:
        report.form = keep_in_step(
            forms,
            site.settings.form.question,
            choices.options,
            choices.accepting,
            pushed[0] if pushed else None,
        )
    except FormError as err:
        report.warnings.append(f"signup form: {err}")
        return
    report.warnings.extend(report.form.warnings)
    ledger.set_form_pushed(forms.form, *wanted)


def _add_series_dates(
    site: Site,
    ledger: Ledger,
    tables: dict[str, Table],
    names: dict[str, str],
    now: datetime,
    report: SignupsReport,
) -> int:
    """Add the Events rows each series holds within `[series] ahead` that are not there yet.

    A date mailer added once is never added again, so a row an organizer
    deleted stays deleted (and is reported as a missing session).
    """
    settings = site.settings
    zone = str(settings.organization.zone)
    found, problems = parse_series(
        tables[names["series"]], settings.workbook.column_map("series"), zone
    )
    report.problems.extend(problems)
    events_table = tables[names["events"]]
    mapping = settings.workbook.column_map("events")
    id_column = events_table.column_index(mapping["id"])
    present = {events_table.cell(row, id_column).strip() for row in events_table.rows}
    added_before = ledger.series_events()
    ahead = timedelta(seconds=seconds(settings.series.ahead))
    new = [
        (series, event)
        for series in found
        for event in sessions_ahead(series, now, ahead)
        if event.id not in present and event.id not in added_before
    ]
    if not new:
        return 0
    records = [events_row(event, mapping) for _, event in new]
    site.workbook.append(events_table.tab, records)
    ledger.add_series_events(((e.id, s.id) for s, e in new), now)
    for record in records:  # this run sees them as the next read will
        events_table.rows.append([record.get(header, "") for header in events_table.header])
    return len(records)


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


def _secret(site: Site) -> str:
    settings = site.settings
    return load_secret(settings.ledger.path.parent, settings.transport.backend == "outbox")


def _take_answers(site: Site, ledger: Ledger, table: Table, now: datetime) -> list[str]:
    """Keep each answer of the release form as a request, once; warn of links mailer never made."""
    settings = site.settings
    mapping = settings.workbook.column_map("releases")
    token_at = table.column_index(mapping["token"])
    if token_at is None:
        return [
            f"{table.tab}: no column {mapping['token']!r}, so no release answer can be read"
            f" (map it as [workbook.columns.releases] token)"
        ]
    stamp_at = table.column_index(mapping["timestamp"])
    secret = _secret(site)
    ledger.index_seat_tokens(secret)  # seats from before the index, or a new MAILER_SECRET
    warnings = []
    for number, values in table.numbered_rows():
        text = table.cell(values, token_at)
        if not text.strip():
            continue
        token = self_service.find_token(text)
        seat = ledger.seat_for_token(secret, token)
        if seat is None:
            warnings.append(
                f"{table.tab} row {number}: not a link mailer made (altered, or for a seat it"
                " does not know); nothing was changed"
            )
            continue
        # An answer dated after this run's moment (a run --now in the past), or not
        # dated at all, counts as given now, but cannot pass for one given after a
        # run that acted on its token: only a dated answer can release a seat again.
        try:
            at = parse_datetime(
                table.cell(values, stamp_at), settings.organization.zone, table.date_order
            )
            again = at <= now
        except ValueError:
            at, again = now, False
        ledger.add_request(token, seat, min(at, now), "form", again=again)
    return warnings


def _names(events: list[Event]) -> list[tuple[str, str]]:
    """Every id and label a session is shown by now, so answers given with them still match."""
    return [
        (normalize_email(name), event.id)
        for event in events
        for name in (event.id, event.sheet_id, event.label)
        if name
    ]


def _held_problems(site: Site, plan: Plan, by_row: dict[int, Signup]) -> list[Problem]:
    tab = site.settings.workbook.tab("signups")
    header = site.settings.workbook.column_map("signups")["status"]
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


def _seat_rows(
    plan: Plan,
    by_row: dict[int, Signup],
    previous: roster.Previous,
    known: dict[tuple[str, str], SeatRow],
    languages: dict[int, str],
) -> list[SeatRow]:
    """Every seat of the plan; a seat kept without a row keeps what the ledger knew of it."""
    rows = []
    for email, seat in plan.seats.items():
        signup = by_row.get(seat.row)
        before = known.get((plan.event_id, email))
        if signup is not None and signup.email == email:
            address, name = signup.address, signup.name
            language = _language_of(signup, languages, before)
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


def _languages(site: Site, tab: str, signups: list[Signup]) -> tuple[dict[int, str], list[Problem]]:
    """Each signup row's language (by row); an answer naming none the site has is reported."""
    settings = site.settings
    known = spellings(settings)
    found: dict[int, str] = {}
    problems = []
    header = settings.workbook.column_map("signups")["language"]
    for signup in signups:
        if not signup.language:
            continue
        code = language_of(signup.language, known)
        if code is None:
            problems.append(
                Problem(tab, signup.row, header, unknown_language(settings, signup.language), False)
            )
            continue
        found[signup.row] = code
    return found, problems


def _drafts(
    site: Site,
    event: Event,
    plan: Plan,
    change: EventChange,
    previous: roster.Previous,
    by_row: dict[int, Signup],
    members: set[str],
    now: datetime,
    acks: list[Notice],
    offered: dict[tuple[str, str], datetime],
    languages: dict[int, str],
    known: dict[tuple[str, str], SeatRow],
) -> list[Draft]:
    """A draft per notice; one body per variant (kind, member or not, invited or not)."""
    emails = EventEmails(site, event, now, change)
    drafts = []
    for notice in plan.notices + change.notices + acks:
        signup = by_row.get(notice.row)
        if signup is None or signup.email != notice.email:
            continue  # a cancellation to a seat whose row is gone: it has no address here
        member = signup.member or signup.email in members
        had_invitation = changes.invited(previous, notice.email)
        ends = offered.get((event.id, notice.email))
        language = _language_of(signup, languages, known.get((event.id, signup.email)))
        local = ends.astimezone(event.starts_at.tzinfo) if ends else None
        until = emails.moment(local, language) if local else ""
        drafts.append(
            emails.draft(
                notice,
                address=signup.address,
                name=signup.name,
                member=member,
                invited=had_invitation,
                position=plan.seats[signup.email].position,
                offer_until=until,
                language=language,
            )
        )
    return drafts


def _language_of(signup: Signup, languages: dict[int, str], before: SeatRow | None) -> str:
    """The row's answer; a row with none keeps the language the seat had ("" for the default)."""
    if signup.row in languages:
        return languages[signup.row]
    return before.language if before is not None and not signup.language else ""


def _parse(
    site: Site,
    tables: dict[str, Table],
    names: dict[str, str],
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
    events = parse_events(
        tables[names["events"]], settings.workbook.column_map("events"), str(zone)
    )
    known, renames = binding.ledger_ids(
        events.events, {i: s.event for i, s in stored.items()}, memory.aliases
    )
    memory = dataclasses.replace(
        memory, aliases={**memory.aliases, **{r.sheet_id: r.event_id for r in renames}}
    )
    resolver = binding.Resolver(known, memory, events.troubled)
    signups = parse_signups(
        tables[names["signups"]], settings.workbook.column_map("signups"), known, zone, resolver
    )
    members = Parsed()
    if names["members"] in tables:
        members = parse_members(tables[names["members"]], settings.workbook.column_map("members"))
    doubts = doubtful_sessions(known, signups.signups, set(stored), now)
    doubted = {d.event_id: d for d in doubts}
    why = "its session's date cannot be right"
    held = [
        HeldRow(s.row, s.email, s.event_id, why) for s in signups.signups if s.event_id in doubted
    ]
    # A rejected answer naming such a session is left alone too: nothing on its rows changes.
    naming = EventMatcher([e for e in known if e.id in doubted])
    answers = Columns(tables[names["signups"]], settings.workbook.column_map("signups"), ())
    table = tables[names["signups"]]
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
        + date_problems(tables[names["events"]], settings.workbook.column_map("events"), doubts)
        + signups.problems
        + members.problems,
    )
    return parsed, renames


def _write_back(
    site: Site,
    table: Table,
    parsed: Parsed,
    plans: list[Plan],
    ledger: Ledger,
    offered: dict[tuple[str, str], datetime],
) -> list[CellChange]:
    """The cells of Status, Position, Notified, Note and Session id that differ from the plan."""
    settings = site.settings
    headers = {c: settings.workbook.column_map("signups")[c] for c in JOB_COLUMNS}
    index = {c: table.column_index(headers[c]) for c in JOB_COLUMNS}
    zone = settings.organization.zone
    last_sent = ledger.last_sent()
    failures = ledger.failures()
    released = ledger.released()
    events = {e.id: e for e in parsed.events}

    wanted: dict[int, tuple[tuple[str, str], dict[str, str | None], str]] = {}
    by_row = {s.row: s for s in parsed.signups}
    for plan in plans:
        session = events[plan.event_id].shown_id
        for row, decision in plan.rows.items():
            signup = by_row[row]
            sent = last_sent.get((plan.event_id, signup.email))
            notified = None
            if sent and decision.status not in (None, roster.DUPLICATE):
                notified = notified_text(datetime.fromisoformat(sent), zone)
            failure = failures.get((plan.event_id, signup.email), "")
            cells = _cells(decision, notified)
            if decision.status is not None:
                cells["session"] = session
            released_at = released.get((plan.event_id, signup.email))
            if decision.status == CANCELLED and released_at and signup.status != CANCELLED:
                # Said once, as the row turns cancelled; a Note typed later is the organizer's.
                cells["note"] = self_service.release_note(released_at, zone)
            ends = offered.get((plan.event_id, signup.email))
            if decision.status == OFFERED and ends is not None:
                cells["note"] = claims.offer_note(ends.astimezone(zone))
            wanted[row] = (signup.key, cells, failure)
    for rejected in parsed.rejected:
        values = table.rows[rejected.row - 2]
        typed = canonical(table.cell(values, index["status"]))
        status = roster.INVALID if typed in ("", roster.INVALID, roster.DUPLICATE) else None
        decision = RowDecision(status, note=rejected.problem.reason)
        cells = _cells(decision, None)
        cells["note"] = rejected.problem.reason
        wanted[rejected.row] = (rejected.key, cells, "")

    changes = []
    for row, (key, cells, failure) in wanted.items():
        values = table.rows[row - 2]
        current = {c: table.cell(values, index[c]) for c in JOB_COLUMNS}
        if cells["note"] is None and current["status"].strip().casefold() in (
            roster.INVALID,
            roster.DUPLICATE,
        ):
            cells["note"] = ""
        if cells["note"] is None and failure:
            # Organizers live in the sheet: an email that could not be delivered shows there.
            cells["note"] = f"{EMAIL_FAILED}{failure}"
        elif cells["note"] is None and current["note"].startswith(EMAIL_FAILED):
            cells["note"] = ""
        elif cells["note"] is None and current["note"].startswith(claims.OFFER_NOTE):
            cells["note"] = ""  # the offer was claimed, or passed on
        elif (
            cells["note"] is None
            and cells["status"] in self_service.PLACES
            and self_service.is_release_note(current["note"])
        ):
            cells["note"] = ""  # confirmed again by an organizer: the place is theirs again
        for column, new in cells.items():
            if new is not None and new != current[column]:
                changes.append(CellChange(row, key, headers[column], current[column], new))
    return changes


def _cells(decision: RowDecision, notified: str | None) -> dict[str, str | None]:
    """None leaves a cell as the organizer has it."""
    if decision.status is None:
        return {"status": None, "position": None, "notified": None, "note": None, "session": None}
    note = decision.note if decision.status in (roster.INVALID, roster.DUPLICATE) else None
    return {
        "status": decision.status,
        "position": str(decision.position) if decision.position else "",
        "notified": notified,
        "note": note,
        "session": None,
    }


def _written_cells(
    plans: list[Plan], by_row: dict[int, Signup], not_written: set[int]
) -> list[tuple[str, str, str]]:
    """(event, email, status) of each Status cell that now holds what mailer decided."""
    cells = []
    for plan in plans:
        for email, seat in plan.seats.items():
            signup = by_row.get(seat.row)
            decision = plan.rows.get(seat.row)
            if signup is None or signup.email != email or decision is None:
                continue  # a seat kept without a row
            if decision.status is not None and seat.row not in not_written:
                cells.append((plan.event_id, email, decision.status))
    return cells
