"""What every job kind's module offers: `decide`, and a decision the runner carries through.

A job reads and decides; it sends nothing and records nothing itself. The
runner does the I/O in one order for every kind (jobs/runner.py): record the
decision in the ledger, deliver what is due, then ask the decision to write
back to the sheet what the ledger now holds. So no kind can forget a step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.ledger.sqlite import Ledger
    from mailer.settings.config import JobSettings
    from mailer.site import Site

Progress = Callable[[int, int], None]
WOULD_SEND = "would send"  # a dry run's count of what the transport took, in place of "sent"


class Report(Protocol):
    delivered: Counter[str]
    """How many messages ended sent, retry, failed...: the runner fills it in."""

    def summary(self) -> str:
        """One line for logs and `mailer jobs`: what was decided, sent and rejected."""
        ...

    def show(self, console: Console, job: JobSettings) -> None:
        """What the run did, for the person who ran it."""
        ...


class Decision(Protocol):
    """What one pass of a job decided, and how to keep it: the runner calls these in order."""

    @property
    def report(self) -> Report:
        """What the pass did so far; record and write_back add to it."""
        ...

    def record(self, site: Site, ledger: Ledger) -> None:
        """Commit the decisions and the messages they make to the ledger."""
        ...

    def write_back(self, site: Site, ledger: Ledger) -> None:
        """After delivery: write to the sheet what the ledger now holds."""
        ...


class JobModule(Protocol):
    def decide(self, site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Decision:
        """One pass of `job` as of `now`: read and decide; nothing is recorded or sent yet."""
        ...


def delivered_text(sent: Counter[str]) -> str:
    """'12 sent, 1 to retry, 1 failed, 1 unknown, 40 waiting': what a send did.

    A dry run's send says 'would send 12': nothing went out.
    """
    parts = [f"would send {sent[WOULD_SEND]}" if WOULD_SEND in sent else f"{sent['sent']} sent"]
    if sent.get("retry"):
        parts.append(f"{sent['retry']} to retry")
    if sent.get("failed"):
        parts.append(f"{sent['failed']} failed")
    if sent.get("unknown"):
        parts.append(f"{sent['unknown']} unknown (see `mailer status`)")
    if sent.get("skipped"):
        parts.append(f"{sent['skipped']} not sent (unsubscribed meanwhile)")
    if sent.get("waiting"):
        parts.append(f"{sent['waiting']} waiting (see `mailer status`)")
    return ", ".join(parts)
