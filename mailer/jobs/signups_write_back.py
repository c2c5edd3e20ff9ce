"""The signups tab after a pass: Status, Position, Notified, Note and Session as decided and sent.

Only mailer's own columns, and only cells whose value differs; what an
organizer typed that mailer does not understand is left as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from mailer.jobs.signups_report import SignupsReport
from mailer.ledger import Ledger
from mailer.model import Signup
from mailer.rules import claims, roster, self_service
from mailer.rules.adoption import notified_text
from mailer.rules.roster import Plan, RowDecision
from mailer.rules.statuses import CANCELLED, OFFERED, canonical
from mailer.sheet.backends import CellChange
from mailer.sheet.tabs import Parsed
from mailer.sheet.view import Tab
from mailer.sheet.workbook import Skipped
from mailer.site import Site

JOB_COLUMNS = ("status", "position", "notified", "note", "session")
EMAIL_FAILED = "email failed: "


class StatusChanges(NamedTuple):
    """What a pass writes to the signups tab, made before anything is sent."""

    tab: Tab  # the tab's name, header and columns, without its rows
    cells: list[CellChange]  # each cell that differs from what was decided and sent
    decided: list[tuple[int, str, str, str]]  # (row, event, email, status) of each Status set


def status_changes(
    site: Site,
    ledger: Ledger,
    tab: Tab,
    parsed: Parsed,
    plans: list[Plan],
    offered: dict[tuple[str, str], datetime],
) -> StatusChanges:
    """The cells of the tab as read that differ from what was decided and sent.

    Nothing of the tab's rows, their parse or the plans is kept in what it
    returns: once the caller lets them go, the write reads the tab again
    without them in memory.
    """
    by_row = {s.row: s for s in parsed.signups}
    return StatusChanges(
        tab.without_rows(),
        _changes(site, tab, parsed, by_row, plans, ledger, offered),
        _decided_cells(plans, by_row),
    )


def write_statuses(
    site: Site, ledger: Ledger, changes: StatusChanges, report: SignupsReport
) -> None:
    """Write the cells that differ; note which Status cells now hold what was decided."""
    tab = changes.tab
    skipped: list[Skipped] = []
    if changes.cells:
        written = site.sheet.write(tab, ["timestamp", "email"], changes.cells, JOB_COLUMNS)
        report.cells_written += written.written
        skipped = report.skipped_writes = written.skipped
    not_written = {s.row for s in skipped if s.column == tab.header("status")}
    ledger.set_written(
        (e, m, status) for row, e, m, status in changes.decided if row not in not_written
    )


def _changes(
    site: Site,
    tab: Tab,
    parsed: Parsed,
    by_row: dict[int, Signup],
    plans: list[Plan],
    ledger: Ledger,
    offered: dict[tuple[str, str], datetime],
) -> list[CellChange]:
    """The cells of Status, Position, Notified, Note and Session id that differ from the plan."""
    settings = site.settings
    table = tab.table
    index = {c: tab.index(c) for c in JOB_COLUMNS}
    zone = settings.organization.zone
    last_sent = ledger.last_sent()
    failures = ledger.failures()
    released = ledger.released()
    events = {e.id: e for e in parsed.events}

    changes: list[CellChange] = []
    said: dict[str, str] = {}  # each Notified text once: a run's sends share a few minutes
    for plan in plans:
        session = events[plan.event_id].shown_id
        for row, decision in plan.rows.items():
            signup = by_row[row]
            sent = last_sent.get((plan.event_id, signup.email))
            notified = None
            if sent and decision.status not in (None, roster.DUPLICATE):
                text = notified_text(datetime.fromisoformat(sent), zone)
                notified = said.setdefault(text, text)
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
            changes += _row_changes(tab, index, row, signup.key, cells, failure)
    for rejected in parsed.rejected:
        values = table.rows[rejected.row - 2]
        typed = canonical(table.cell(values, index["status"]))
        status = roster.INVALID if typed in ("", roster.INVALID, roster.DUPLICATE) else None
        decision = RowDecision(status, note=rejected.problem.reason)
        cells = _cells(decision, None)
        cells["note"] = rejected.problem.reason
        changes += _row_changes(tab, index, rejected.row, rejected.key, cells, "")
    return changes


def _row_changes(
    tab: Tab,
    index: dict[str, int | None],
    row: int,
    key: tuple[str, ...],
    cells: dict[str, str | None],
    failure: str,
) -> list[CellChange]:
    """The changes of one row's cells: what differs from what the row holds as read.

    Made row by row: a first run's 10,000 rows of wanted cells are never held at once.
    """
    table = tab.table
    values = table.rows[row - 2]
    current = {c: table.cell(values, index[c]) for c in JOB_COLUMNS}
    changes = []
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
            changes.append(tab.change(row, key, column, current[column], new))
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


def _decided_cells(plans: list[Plan], by_row: dict[int, Signup]) -> list[tuple[int, str, str, str]]:
    """(row, event, email, status) of each Status cell the write sets to what mailer decided."""
    cells = []
    for plan in plans:
        for email, seat in plan.seats.items():
            signup = by_row.get(seat.row)
            decision = plan.rows.get(seat.row)
            if signup is None or signup.email != email or decision is None:
                continue  # a seat kept without a row
            if decision.status is not None:
                cells.append((seat.row, plan.event_id, email, decision.status))
    return cells
