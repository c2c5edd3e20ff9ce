"""What every job kind's module offers: `run`, and a report that can say what it did."""

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
Send = Callable[[], Counter[str]]
"""Sends what the ledger holds as due; says how many ended sent, retry or failed."""


def send_nothing() -> Counter[str]:
    """A Send for a pass that decides and records, and leaves the sending to a later run."""
    return Counter()


class Report(Protocol):
    delivered: Counter[str]

    def summary(self) -> str:
        """One line for logs and `mailer jobs`: what was decided, sent and rejected."""
        ...

    def show(self, console: Console, job: JobSettings) -> None:
        """What the run did, for the person who ran it."""
        ...


class JobModule(Protocol):
    def run(
        self, site: Site, ledger: Ledger, job: JobSettings, now: datetime, send: Send
    ) -> Report:
        """One pass of `job` as of `now`: decide, record in the ledger, send(), write back."""
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
