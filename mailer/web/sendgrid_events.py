"""What SendGrid tells later: deliveries, bounces, drops and spam reports from its Event Webhook.

SendGrid accepts a message first and learns of a bounce afterwards; it posts
those events to `mailer serve` at /sendgrid/events, signed with its key
(ECDSA over the timestamp and the body). `processed` or `delivered` settles a
message whose outcome was unknown (a request that timed out) as sent; a hard
bounce puts the address on the suppression list (no job writes to it again)
and marks the message failed with the reason, as a drop does; a spam report
stops the digest for that address. Everything else (deferred, blocked, opens,
clicks) changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sendgrid.helpers.eventwebhook import EventWebhook

from mailer.core.redact import redact
from mailer.ledger.sqlite import BOUNCE, Ledger
from mailer.mail.message import FAILED, SENT

COMPLAINT = "complaint"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class Outcome:
    """What one event asks of the ledger."""

    email: str
    suppress: str  # a suppression reason, or ""
    key: str  # the message it settles, or ""
    reason: str
    state: str = FAILED  # what the message becomes: sent or failed


def genuine(public_key: str, body: bytes, signature: str, timestamp: str, now: datetime) -> bool:
    """Signed by SendGrid's key, over this body, and not replayed from long ago."""
    if not (public_key and signature and timestamp.isdigit()):
        return False
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    try:
        verifier = EventWebhook(public_key)
        return verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (ValueError, UnicodeDecodeError):
        return False


def outcomes(body: bytes) -> list[Outcome]:
    """The events that matter, from a webhook body (a JSON list of events)."""
    try:
        events = json.loads(body)
    except ValueError:
        return []
    found = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or not isinstance(event.get("email"), str):
            continue
        kind = event.get("event")
        key = str(event.get("mailer_key", ""))
        reason = str(event.get("reason", ""))[:300]
        if kind in ("processed", "delivered") and key:
            found.append(Outcome(event["email"], "", key, "", SENT))
        elif kind == "bounce" and event.get("type", "bounce") == "bounce":
            found.append(Outcome(event["email"], BOUNCE, key, f"bounced: {reason}".strip()))
        elif kind == "dropped":
            bounced = "bounced address" in reason.lower()
            found.append(
                Outcome(event["email"], BOUNCE if bounced else "", key, f"dropped: {reason}")
            )
        elif kind == "spamreport":
            found.append(Outcome(event["email"], COMPLAINT, "", "marked as spam"))
    return found


def apply(ledger: Ledger, found: list[Outcome], now: datetime) -> int:
    """Store what the events say; returns how many changed something."""
    for outcome in found:
        if outcome.suppress:
            ledger.suppress(outcome.email, outcome.suppress, now)
        if outcome.key and outcome.state == SENT:
            ledger.settle_sent(outcome.key, now)
        elif outcome.key:
            ledger.fail(outcome.key, redact(outcome.reason, addresses=True))
    return len(found)
