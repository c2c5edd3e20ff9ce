"""The bounces job: read the sending mailbox for bounce reports and act on them.

For SMTP senders (Gmail, Workspace), whose bounces come back as emails to the
sending mailbox. Runs first in `mailer run` so a dead address is suppressed
before anything is written to it again. Sends nothing itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailer.core.errors import ConfigError
from mailer.core.redact import mask, redact
from mailer.core.text import plural
from mailer.ledger.sqlite import Ledger
from mailer.model import Problem
from mailer.rules.bounces import COMPLAINT
from mailer.rules.statuses import CONFIRMED
from mailer.sending.bounces import imap
from mailer.sending.bounces.outcomes import Outcomes, Taken, take
from mailer.sending.bounces.reports import Report as BounceReport
from mailer.sending.bounces.reports import parse
from mailer.settings.config import BounceSettings, JobSettings
from mailer.site import Site

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class BouncesReport:
    looked_at: int = 0  # new messages in the folder whose headers were read
    outcomes: Outcomes = field(default_factory=lambda: Outcomes([]))
    # People holding a seat whose latest email bounced: open until that changes.
    problems: list[Problem] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)

    @property
    def suppressed(self) -> int:
        return sum(1 for t in self.outcomes.taken if t.verdict.suppress)

    def summary(self) -> str:
        kinds = Counter(t.bounce.kind for t in self.outcomes.taken)
        bounces = kinds.total() - kinds[COMPLAINT]
        text = (
            f"{plural(self.looked_at, 'new message')} read, {plural(bounces, 'bounce')},"
            f" {plural(kinds[COMPLAINT], 'complaint')}, {self.suppressed} suppressed"
        )
        if self.outcomes.not_ours:
            text += f", {self.outcomes.not_ours} not about mailer's mail (left alone)"
        if self.problems:
            people = plural(len(self.problems), "confirmed person", "confirmed people")
            text += f", {people} to reach otherwise"
        return text

    def show(self, console: Console, job: JobSettings) -> None:
        console.print(f"Bounces ({job.name}): {self.summary()}.", soft_wrap=True, highlight=False)
        for taken in self.outcomes.taken:
            console.print(f"  {describe(taken)}", markup=False, soft_wrap=True, highlight=False)
        for problem in self.problems:
            console.print(f"  for organizers: {problem}", markup=False, soft_wrap=True)


def describe(taken: Taken) -> str:
    """'a***@example.org: hard bounce 5.1.1 (550 ... does not exist): suppressed'."""
    bounce = taken.bounce
    what = "complaint" if bounce.kind == COMPLAINT else f"{bounce.kind} bounce {bounce.status}"
    said = f" ({redact(bounce.diagnostic)})" if bounce.diagnostic else ""
    verdict = "suppressed" if taken.verdict.suppress else "counted"
    return f"{mask(bounce.email)}: {what}{said}: {verdict}, {taken.verdict.why}"


@dataclass
class Bounces:
    """The bounce reports read since the last scan, and where the scan ended."""

    mailbox: str
    reports: list[BounceReport]
    position: imap.Position
    now: datetime
    report: BouncesReport

    def record(self, site: Site, ledger: Ledger) -> None:
        """Act on each report (suppress, count) and keep where the scan ended."""
        self.report.outcomes = take(ledger, self.reports, self.now)
        position = self.position
        ledger.set_mailbox_position(self.mailbox, position.uidvalidity, position.last_uid, self.now)

    def write_back(self, site: Site, ledger: Ledger) -> None:
        """Nothing goes to the sheet; people with a seat whose email bounced go to organizers."""
        for problem in seated_and_unreachable(site, ledger, self.now):
            tell_organizers(self.report, problem)


def decide(site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Bounces:
    """Read what came into the folder since the last scan: the bounce reports to act on."""
    settings = site.settings.bounces
    if settings is None:
        raise ConfigError(f"{job.source}: a bounces job needs [bounces] in mailer.toml")
    mailbox = mailbox_name(settings)
    stored = ledger.mailbox_position(mailbox)
    found = imap.scan(
        settings,
        imap.password(),
        since=(now - timedelta(days=settings.first_scan_days)).date(),
        after=imap.Position(*stored) if stored else None,
    )
    reports = [report for _, raw in found.reports for report in parse(raw)]
    return Bounces(mailbox, reports, found.position, now, BouncesReport(looked_at=found.looked_at))


def mailbox_name(settings: BounceSettings) -> str:
    """The folder's name in the ledger: another account or folder starts its own scan."""
    return f"imap://{settings.username}@{settings.host}/{settings.folder}"


def seated_and_unreachable(site: Site, ledger: Ledger, now: datetime) -> list[Problem]:
    """People holding a seat in a session to come whose latest email bounced.

    Asked anew on every run, so the problem stays open (on the Mailer tab and
    in the organizers' note) until the session is over, the seat is released,
    the address is corrected on the sheet, or a later email to it went out.
    """
    bounced = {b.email: b for b in ledger.bounced_last()}
    if not bounced:
        return []
    events = {i: s.event for i, s in ledger.stored_events().items() if not s.missing}
    tab = site.sheet.tab_name("signups")
    column = site.sheet.header("signups", "email")
    found = []
    for seat in ledger.seats():
        event, bounce = events.get(seat.event_id), bounced.get(seat.email)
        if bounce is None or event is None or seat.status != CONFIRMED:
            continue
        if event.ends_at <= now or event.cancelled:
            continue
        said = f"{bounce.status} {redact(bounce.diagnostic)}".strip()
        found.append(
            Problem(
                tab,
                seat.row,
                column,
                f"{seat.name or 'this person'} has a seat in {event.id} but their email"
                f" bounced ({said}): reach them another way",
                value=seat.address or seat.email,
            )
        )
    return found


def tell_organizers(report: BouncesReport, problem: Problem) -> None:
    """The one place a bounce is put before organizers: the run's problems, which the
    Mailer tab and the organizers' note carry (mailer.jobs.organizers)."""
    report.problems.append(problem)
