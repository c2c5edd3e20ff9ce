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

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mailer.core.redact import redact
from mailer.ledger.sqlite import BOUNCE, Ledger
from mailer.mail.message import FAILED, SENT

COMPLAINT = "complaint"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600
# Seconds since 1970 in ASCII digits: str.isdigit() would also take "²" or "٣".
TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Outcome:
    """What one event asks of the ledger."""

    email: str
    suppress: str  # a suppression reason, or ""
    key: str  # the message it settles, or ""
    reason: str
    state: str = FAILED  # what the message becomes: sent or failed


def genuine(
    public_key: ec.EllipticCurvePublicKey | None,
    body: bytes,
    signature: str,
    timestamp: str,
    now: datetime,
) -> bool:
    """Signed by SendGrid's key, over this body, and not replayed from long ago.

    Headers that are not what SendGrid sends (a timestamp of anything but ASCII
    digits, a signature that is not base64) are simply not genuine.
    """
    if public_key is None or not TIMESTAMP.fullmatch(timestamp):
        return False
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    try:
        decoded = base64.b64decode(signature.encode("ascii"), validate=True)
        public_key.verify(decoded, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True


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
