"""The Series tab's dates within `[series] ahead`, added to the Events tab once each."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailer.core.durations import seconds
from mailer.jobs.signups_report import SignupsReport
from mailer.ledger.sqlite import Ledger
from mailer.rules.series import events_row, sessions_ahead
from mailer.sheet.series_tab import parse_series
from mailer.sheet.view import Tab
from mailer.site import Site


def add_series_dates(
    site: Site,
    ledger: Ledger,
    tables: dict[str, Tab],
    now: datetime,
    report: SignupsReport,
) -> int:
    """Add the Events rows each series holds within `[series] ahead` that are not there yet.

    A date mailer added once is never added again, so a row an organizer
    deleted stays deleted (and is reported as a missing session).
    """
    settings = site.settings
    zone = str(settings.organization.zone)
    found, problems = parse_series(tables["series"].table, tables["series"].columns, zone)
    report.problems.extend(problems)
    events = tables["events"]
    events_table = events.table
    id_column = events.index("id")
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
    records = [events_row(event, events.columns) for _, event in new]
    site.workbook.append(events_table.tab, records)
    ledger.add_series_events(((e.id, s.id) for s, e in new), now)
    for record in records:  # this run sees them as the next read will
        events_table.rows.append([record.get(header, "") for header in events_table.header])
    return len(records)
