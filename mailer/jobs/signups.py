"""The signups job: read the sheet, hold each session to capacity, email, write statuses back."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from mailer.config import JobSettings
from mailer.emails import EventEmails
from mailer.errors import WorkbookError
from mailer.jobs.base import Send, delivered_text
from mailer.ledger import Ledger, SeatRow
from mailer.message import Draft
from mailer.rows import (
    Event,
    Parsed,
    Problem,
    Signup,
    parse_events,
    parse_members,
    parse_signups,
)
from mailer.rules import changes, roster
from mailer.rules.changes import EventChange, StoredEvent
from mailer.rules.roster import Plan, RowDecision
from mailer.site import Site
from mailer.text import plural
from mailer.workbook import CellChange, Table, WritePlan
from mailer.workbook.base import Skipped

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("mailer.signups")
JOB_COLUMNS = ("status", "position", "notified", "note")
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

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    def summary(self) -> str:
        rejected = plural(len(self.rejected), "row")
        return f"{self.decided} new, {delivered_text(self.delivered)}, {rejected} rejected"

    def show(self, console: Console, job: JobSettings) -> None:
        from rich.table import Table as RichTable

        table = RichTable(title="Signups", title_justify="left")
        for column in ("Session", "Starts", "Confirmed", "Waitlisted", "New emails"):
            table.add_column(column, no_wrap=column != "New emails")
        for each in self.events:
            event = each.event
            new = ", ".join(f"{n} {kind}" for kind, n in sorted(each.new_messages.items()))
            table.add_row(
                event.id + (" (cancelled)" if event.cancelled else ""),
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


def run(site: Site, ledger: Ledger, job: JobSettings, now: datetime, send: Send) -> SignupsReport:
    """One pass of the job, as of `now`. The caller holds the ledger's lock."""
    settings = site.settings
    names = {tab: settings.workbook.tab(tab) for tab in ("events", "signups", "members")}
    tables = site.workbook.read(list(names.values()))
    for tab in ("events", "signups"):
        if names[tab] not in tables:
            raise WorkbookError(f"the workbook has no tab {names[tab]!r} ({tab})")
    parsed = _parse(site, tables, names)
    report = SignupsReport(settings.organization.zone, problems=parsed.problems)

    by_event: dict[str, list[Signup]] = {e.id: [] for e in parsed.events}
    for signup in parsed.signups:
        by_event[signup.event_id].append(signup)
    by_row = {s.row: s for s in parsed.signups}
    stored = ledger.stored_events()

    plans, events, seats, drafts = [], [], [], []
    for event in parsed.events:
        previous = ledger.previous(event.id)
        plan = roster.plan(event, by_event[event.id], previous, now)
        change = changes.detect(event, stored.get(event.id), plan, previous, now)
        plans.append(plan)
        events.append(StoredEvent(event, change.sequence))
        seats.extend(_seat_rows(plan, by_row))
        drafts.extend(_drafts(site, event, plan, change, previous, by_row, parsed.members, now))
        report.warnings.extend(plan.warnings)
        if event.ends_at > now:
            notices = plan.notices + change.notices
            report.events.append(
                EventSummary(
                    event, plan.confirmed, plan.waitlisted, Counter(n.kind for n in notices)
                )
            )
    report.decided = ledger.record(events, seats, drafts)
    report.delivered = send()

    cell_changes = _write_back(site, tables[names["signups"]], parsed, plans, ledger)
    if cell_changes:
        mapping = settings.workbook.column_map("signups")
        written: WritePlan = site.workbook.write(
            names["signups"],
            [mapping[c] for c in ("timestamp", "email")],
            cell_changes,
            columns=[mapping[c] for c in JOB_COLUMNS],
        )
        report.cells_written = len(written.cells)
        report.skipped_writes = written.skipped
    return report


def _seat_rows(plan: Plan, by_row: dict[int, Signup]) -> list[SeatRow]:
    return [
        SeatRow(
            plan.event_id,
            email,
            seat.status,
            seat.position,
            seat.row,
            by_row[seat.row].address,
            by_row[seat.row].name,
        )
        for email, seat in plan.seats.items()
    ]


def _drafts(
    site: Site,
    event: Event,
    plan: Plan,
    change: EventChange,
    previous: roster.Previous,
    by_row: dict[int, Signup],
    members: set[str],
    now: datetime,
) -> list[Draft]:
    """A draft per notice; one body per variant (kind, member or not, invited or not)."""
    emails = EventEmails(site, event, now, change)
    drafts = []
    for notice in plan.notices + change.notices:
        signup = by_row[notice.row]
        member = signup.member or signup.email in members
        had_invitation = changes.invited(previous, notice.email)
        drafts.append(
            emails.draft(
                notice,
                address=signup.address,
                name=signup.name,
                member=member,
                invited=had_invitation,
                position=plan.seats[signup.email].position,
            )
        )
    return drafts


def _parse(site: Site, tables: dict[str, Table], names: dict[str, str]) -> Parsed:
    settings = site.settings
    zone = settings.organization.zone
    events = parse_events(
        tables[names["events"]], settings.workbook.column_map("events"), str(zone)
    )
    signups = parse_signups(
        tables[names["signups"]], settings.workbook.column_map("signups"), events.events, zone
    )
    members = Parsed()
    if names["members"] in tables:
        members = parse_members(tables[names["members"]], settings.workbook.column_map("members"))
    return Parsed(
        events=events.events,
        signups=signups.signups,
        rejected=signups.rejected,
        members=members.members,
        problems=events.problems + signups.problems + members.problems,
    )


def _write_back(
    site: Site, table: Table, parsed: Parsed, plans: list[Plan], ledger: Ledger
) -> list[CellChange]:
    """The cells of Status, Position, Notified and Note that differ from what the job decided."""
    settings = site.settings
    headers = {c: settings.workbook.column_map("signups")[c] for c in JOB_COLUMNS}
    index = {c: table.column_index(headers[c]) for c in JOB_COLUMNS}
    zone = settings.organization.zone
    last_sent = ledger.last_sent()
    failures = ledger.failures()

    wanted: dict[int, tuple[tuple[str, str], dict[str, str | None], str]] = {}
    by_row = {s.row: s for s in parsed.signups}
    for plan in plans:
        for row, decision in plan.rows.items():
            signup = by_row[row]
            sent = last_sent.get((plan.event_id, signup.email))
            notified = _local(sent, zone) if sent and decision.status != roster.DUPLICATE else None
            failure = failures.get((plan.event_id, signup.email), "")
            wanted[row] = (signup.key, _cells(decision, notified), failure)
    for rejected in parsed.rejected:
        decision = RowDecision(roster.INVALID, note=rejected.problem.reason)
        wanted[rejected.row] = (rejected.key, _cells(decision, None), "")

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
        for column, new in cells.items():
            if new is not None and new != current[column]:
                changes.append(CellChange(row, key, headers[column], current[column], new))
    return changes


def _cells(decision: RowDecision, notified: str | None) -> dict[str, str | None]:
    """None leaves a cell as the organizer has it."""
    note = decision.note if decision.status in (roster.INVALID, roster.DUPLICATE) else None
    return {
        "status": decision.status,
        "position": str(decision.position) if decision.position else "",
        "notified": notified,
        "note": note,
    }


def _local(iso: str, zone) -> str:
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M")
