"""A signups pass: read the workbook, and plan every session only if what was read is new.

The runner imports this module for the signups job (mailer.settings.kinds).
A pass whose inputs have the fingerprint of the last pass that changed
nothing (mailer.jobs.unchanged) reports the same and stops after the read,
without the rules that plan a session: mailer.jobs.signups, which plans
every other pass, is imported only then (a tenth of an unchanged run's
imports).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailer.core.errors import MissingColumnError, WorkbookError
from mailer.jobs import unchanged
from mailer.jobs.signups_report import EventSummary, SignupsReport
from mailer.ledger import Ledger
from mailer.rules.answers import FORM, way
from mailer.settings.config import JobSettings
from mailer.settings.kinds import SignupsOptions
from mailer.settings.schema import REQUIRED_COLUMNS
from mailer.settings.secret import site_secret
from mailer.sheet.columns import Columns
from mailer.sheet.view import Tab
from mailer.site import Site

if TYPE_CHECKING:
    from mailer.jobs.signups import Signups


def decide(site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Signups | Spared:
    """One pass of the job, as of `now`: every session's plan. The caller holds the lock."""
    return decide_pass(site, ledger, job, now, spare=True)


def decide_pass(
    site: Site, ledger: Ledger, job: JobSettings, now: datetime, spare: bool
) -> Signups | Spared:
    settings = site.settings
    answers = way(settings.server.public_url, settings.self_service.form_url)
    tables = read_tabs(site, answers)
    readable_or_stop(tables)  # read, decide, then act: nothing sent yet
    report = SignupsReport(settings.organization.zone)
    if "series" in tables:  # only a site with a Series tab adds its dates
        from mailer.jobs.series_dates import add_series_dates

        report.series_added = add_series_dates(site, ledger, tables, now, report)
    window = job.options.claim_window if isinstance(job.options, SignupsOptions) else None
    fingerprint, state, moments = None, "", []
    if not report.series_added and site.forms is None:  # a Google Form is read in its step
        state = ledger.state_token()
        inputs = _inputs(site, job, tables, state)
        kept = ledger.fingerprint(unchanged.JOB_NAME)
        # The same inputs give the same moments: those kept stand for this pass's own.
        if (
            spare
            and kept is not None
            and kept[0] == unchanged.fingerprint(inputs, unchanged.kept_moments(kept[1]), now)
        ):
            stored_events = {i: s.event for i, s in ledger.stored_events().items()}
            restored = unchanged.restore(kept[1], stored_events)
            if restored is not None:
                shown, report.problems, report.warnings = restored
                report.events = [EventSummary(*each) for each in shown]
                return Spared(report, job, now, state)
        moments = _moments(site, ledger, tables, window)
        fingerprint = unchanged.fingerprint(inputs, moments, now)
    from mailer.jobs.signups import Read, decide_in_full  # the rules that plan each session

    read = Read(tables, report, window, answers, fingerprint, state, moments)
    return decide_in_full(site, ledger, job, now, read)


def _inputs(site: Site, job: JobSettings, tables: dict[str, Tab], state: str) -> bytes:
    """The digest of what this pass decides from, but the clock (mailer.jobs.unchanged)."""
    secret = site_secret(site.settings) if "releases" in tables else ""
    read = {name: tab.table for name, tab in tables.items()}
    return unchanged.inputs(site.settings, job, read, state, secret)


def _moments(
    site: Site, ledger: Ledger, tables: dict[str, Tab], window: timedelta | None
) -> list[datetime]:
    """Each moment a decision turns on: sessions' starts and ends, offers' ends, answers."""
    from mailer.sheet.tabs import parse_events

    zone = site.settings.organization.zone
    events = parse_events(tables["events"].table, tables["events"].columns, str(zone))
    stored = ledger.stored_events()
    sessions = [*events.events, *(s.event for s in stored.values())]
    moments = [moment for e in sessions for moment in (e.starts_at, e.ends_at)]
    if window is not None:  # only a site that offers freed seats reads its offers
        from mailer.rules.claims import OFFER

        moments += [datetime.fromisoformat(at) + window for at in ledger.sent_at((OFFER,)).values()]
    if "releases" in tables:
        moments += _answer_moments(site, tables["releases"])
    return moments


def _answer_moments(site: Site, tab: Tab) -> list[datetime]:
    """When each answer of the release form was given, as take_answers reads it."""
    from mailer.sheet.tabs import parse_datetime

    zone = site.settings.organization.zone
    stamp_at = tab.index("timestamp")
    moments = []
    for values in tab.table.rows:
        try:
            moments.append(
                parse_datetime(tab.table.cell(values, stamp_at), zone, tab.table.date_order)
            )
        except ValueError:
            continue
    return moments


def read_tabs(site: Site, answers: str) -> dict[str, Tab]:
    """Every tab the pass needs, in one read, by logical name; events and signups must be there."""
    settings = site.settings
    tabs = ["events", "signups", "members", "subscribers"]
    if settings.series.ahead:
        tabs.append("series")
    if answers == FORM:
        tabs.append("releases")
    tables = site.sheet.read(tabs)
    for tab in ("events", "signups"):
        if tab not in tables:
            raise WorkbookError(f"the workbook has no tab {site.sheet.tab_name(tab)!r} ({tab})")
    return tables


def readable_or_stop(tables: dict[str, Tab]) -> None:
    """Every tab read holds its required columns, or the job stops here, before it acts."""
    for logical, tab in tables.items():
        if logical == "releases":  # a release tab's trouble is a warning
            continue
        try:
            Columns(tab.table, tab.columns, REQUIRED_COLUMNS[logical])
        except MissingColumnError as err:
            raise WorkbookError(
                f"{err}. The signups job stopped before sending or writing anything."
            ) from err


@dataclass(eq=False, repr=False)
class Spared:
    """A pass whose inputs are those of the last pass that changed nothing: it reports the same.

    Delivery still runs (it keeps its own clock: an unknown message goes again
    after its hour, a pause ends); if that changed the ledger, the pass is
    decided in full after all and writes back.
    """

    spared: SignupsReport
    job: JobSettings
    now: datetime
    ledger_state: str
    full: Signups | None = None

    @property
    def report(self) -> SignupsReport:
        return self.full.report if self.full is not None else self.spared

    def record(self, site: Site, ledger: Ledger) -> None:
        pass  # nothing new was decided

    def write_back(self, site: Site, ledger: Ledger) -> None:
        if ledger.state_token() == self.ledger_state:
            return
        full = decide_pass(site, ledger, self.job, self.now, spare=False)
        assert not isinstance(full, Spared)  # never spared again: spare=False
        full.record(site, ledger)
        full.report.delivered = self.spared.delivered
        full.write_back(site, ledger)
        self.full = full
