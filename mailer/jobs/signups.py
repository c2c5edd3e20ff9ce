"""The signups job: read the sheet, hold each session to capacity, email, write statuses back."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mailer import roster
from mailer.calendar import describe_time, invitation
from mailer.delivery import deliver
from mailer.errors import WorkbookError
from mailer.ledger import Ledger
from mailer.message import Attachment, Body, Draft
from mailer.roster import Plan, RowDecision
from mailer.rows import (
    Event,
    Parsed,
    Problem,
    Signup,
    parse_events,
    parse_members,
    parse_signups,
)
from mailer.site import Site
from mailer.workbook import CellChange, Table, WritePlan
from mailer.workbook.base import Skipped

log = logging.getLogger("mailer.signups")
JOB_COLUMNS = ("status", "position", "notified", "note")
INVITING = (roster.CONFIRMATION, roster.PROMOTION)


@dataclass
class EventSummary:
    event: Event
    confirmed: int
    waitlisted: int
    new_messages: Counter


@dataclass
class SignupsReport:
    events: list[EventSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decided: int = 0
    delivered: Counter = field(default_factory=Counter)
    cells_written: int = 0
    skipped_writes: list[Skipped] = field(default_factory=list)


def run(
    site: Site,
    ledger: Ledger,
    now: datetime,
    send: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SignupsReport:
    """One pass of the job, as of `now`. The caller holds the ledger's lock."""
    settings = site.settings
    names = {tab: settings.workbook.tab(tab) for tab in ("events", "signups", "members")}
    tables = site.workbook.read(list(names.values()))
    for tab in ("events", "signups"):
        if names[tab] not in tables:
            raise WorkbookError(f"the workbook has no tab {names[tab]!r} ({tab})")
    parsed = _parse(site, tables, names)
    report = SignupsReport(problems=parsed.problems)

    by_event: dict[str, list[Signup]] = {e.id: [] for e in parsed.events}
    for signup in parsed.signups:
        by_event[signup.event_id].append(signup)
    by_row = {s.row: s for s in parsed.signups}

    plans, messages = [], []
    for event in parsed.events:
        plan = roster.plan(event, by_event[event.id], ledger.previous(event.id), now)
        plans.append(plan)
        report.warnings.extend(plan.warnings)
        messages.extend(_messages(site, event, plan, by_row, parsed.members, now))
        if event.ends_at > now:
            report.events.append(
                EventSummary(
                    event, plan.confirmed, plan.waitlisted, Counter(n.kind for n in plan.notices)
                )
            )
    report.decided = ledger.record(parsed.events, plans, messages)
    if send:
        report.delivered = deliver(ledger, site.transport, now, progress)

    changes = _write_back(site, tables[names["signups"]], parsed, plans, ledger)
    if changes:
        mapping = settings.workbook.column_map("signups")
        written: WritePlan = site.workbook.write(
            names["signups"],
            [mapping[c] for c in ("timestamp", "email")],
            changes,
            columns=[mapping[c] for c in JOB_COLUMNS],
        )
        report.cells_written = len(written.cells)
        report.skipped_writes = written.skipped
    return report


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


def event_view(event: Event) -> dict[str, object]:
    return {
        "id": event.id,
        "title": event.title,
        "capacity": event.capacity,
        "join_url": event.join_url,
        "signup_url": event.signup_url,
        **describe_time(event),
    }


def donation_view(site: Site) -> dict[str, object]:
    donation = site.settings.donation
    symbol = "$" if donation.currency == "USD" else f"{donation.currency} "
    amount = (
        f"{symbol}{donation.minimum}–{donation.maximum}"
        if donation.minimum and donation.minimum != donation.maximum
        else f"{symbol}{donation.maximum}"
    )
    return {
        "enabled": donation.enabled,
        "range": amount,
        "cause": donation.cause,
        "how_to_pay": donation.how_to_pay,
        "url": donation.url,
    }


def _messages(
    site: Site,
    event: Event,
    plan: Plan,
    by_row: dict[int, Signup],
    members: set[str],
    now: datetime,
) -> list[Draft]:
    """A draft per notice; one body per (kind, member or not) for the whole event."""
    bodies: dict[tuple[str, bool], Body] = {}
    drafts = []
    for notice in plan.notices:
        signup = by_row[notice.row]
        member = signup.member or signup.email in members
        variant = (notice.kind, member)
        if variant not in bodies:
            bodies[variant] = _body(site, event, notice.kind, member)
        position = plan.seats[signup.email].position
        drafts.append(
            Draft(
                key=f"{notice.kind}:{event.id}:{signup.email}",
                kind=notice.kind,
                event_id=event.id,
                to_email=signup.address,
                to_name=signup.name,
                created_at=now.astimezone(UTC),
                body=bodies[variant],
                person={
                    "name": signup.name,
                    "first_name": signup.first_name or "friend",
                    "email": signup.address,
                    "position": str(position or ""),
                },
            )
        )
    return drafts


def _body(site: Site, event: Event, kind: str, member: bool) -> Body:
    org = site.settings.organization
    context = {
        "org": org,
        "event": event_view(event),
        "donation": donation_view(site),
        "member": member,
    }
    prepared = site.renderer.prepare(kind, context)
    attachments: tuple[Attachment, ...] = ()
    if kind in INVITING:
        attachments = (Attachment("invite.ics", "text/calendar", invitation(event, org)),)
    return Body(
        subject=prepared.subject,
        html=prepared.html,
        text=prepared.text,
        sender_email=org.sender,
        sender_name=org.sender_name or org.name,
        reply_to=org.reply_to,
        attachments=attachments,
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

    wanted: dict[int, tuple[tuple[str, str], dict[str, str | None]]] = {}
    by_row = {s.row: s for s in parsed.signups}
    for plan in plans:
        for row, decision in plan.rows.items():
            signup = by_row[row]
            sent = last_sent.get((plan.event_id, signup.email))
            notified = _local(sent, zone) if sent and decision.status != roster.DUPLICATE else None
            wanted[row] = (signup.key, _cells(decision, notified))
    for rejected in parsed.rejected:
        decision = RowDecision(roster.INVALID, note=rejected.problem.reason)
        wanted[rejected.row] = (rejected.key, _cells(decision, None))

    changes = []
    for row, (key, cells) in wanted.items():
        values = table.rows[row - 2]
        current = {c: table.cell(values, index[c]) for c in JOB_COLUMNS}
        if cells["note"] is None and current["status"].strip().casefold() in (
            roster.INVALID,
            roster.DUPLICATE,
        ):
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
