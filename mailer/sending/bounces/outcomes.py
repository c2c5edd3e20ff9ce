"""Reports -> the ledger: each matched to the message it answers, recorded once, and acted on.

A report that names no message mailer sent (the organizer's own mail bounced,
or a relay dropped every header mailer set) changes nothing: the sending
mailbox is a person's mailbox too. A matched bounce marks that message
failed (`mailer retry` sends it again) and, as mailer.rules.bounces decides,
suppresses the address the message went to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from mailer.core.redact import redact
from mailer.ledger.sqlite import BOUNCE, BounceRow, Ledger
from mailer.mail.mime import reference
from mailer.rules.bounces import COMPLAINT, SOFT_WINDOW, Verdict, decide
from mailer.sending.bounces.reports import Report

REASONS = {COMPLAINT: "complaint"}  # the suppression reason per kind; BOUNCE otherwise


@dataclass(frozen=True)
class Taken:
    """One report acted on: which message it answered and what was decided."""

    bounce: BounceRow
    event_id: str
    verdict: Verdict


@dataclass
class Outcomes:
    taken: list[Taken]
    not_ours: int = 0  # reports about mail mailer did not send
    repeated: int = 0  # reports taken by an earlier scan


def match(ledger: Ledger, report: Report) -> tuple[str, str, str] | None:
    """(key, address, event) of the message a report answers, or None when it is not ours."""
    wanted = set(report.references)
    if not wanted:
        return None
    # The address the report names first (cheap); a forwarded address may differ.
    looked = [ledger.handed_over(report.recipient)] if report.recipient else []
    for messages in [*looked, ledger.handed_over()]:
        for key, email, event_id in messages:
            if reference(key) in wanted:
                return key, email, event_id
    return None


def take(ledger: Ledger, reports: Iterable[Report], now: datetime) -> Outcomes:
    """Record each report once and apply the rules; returns what was taken."""
    found = Outcomes([])
    at = now.astimezone(UTC).isoformat()
    for report in reports:
        matched = match(ledger, report)
        if matched is None:
            found.not_ours += 1
            continue
        key, email, event_id = matched
        diagnostic = redact(report.diagnostic, addresses=True)
        bounce = BounceRow(email, report.kind, report.status, diagnostic, key, at)
        with ledger.transaction():
            if not ledger.record_bounce(report.report_id, bounce):
                found.repeated += 1
                continue
            verdict = decide(report.kind, ledger.recent_soft_bounces(email, SOFT_WINDOW))
            if report.kind != COMPLAINT:
                ledger.fail(key, f"bounced: {report.status} {diagnostic}".strip())
            if verdict.suppress:
                ledger.suppress(email, REASONS.get(report.kind, BOUNCE), now)
        found.taken.append(Taken(bounce, event_id, verdict))
    return found
