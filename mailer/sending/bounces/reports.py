"""Bounce reports in the sending mailbox -> what each says about which message of ours.

Three shapes are taken: delivery status notifications (RFC 3464,
multipart/report; report-type=delivery-status), spam complaints (ARF,
RFC 5965, report-type=feedback-report), and the non-standard bounces older
mail servers still write, which flufl.bounce recognises. Anything else in
the mailbox (a vacation reply, a person's mail) is not a report; `candidate`
tells so from the headers alone, so its body is never read.

A report names our message by the headers it quotes: X-Mailer-Key, or the
left part of the Message-ID mailer gave it (both are mime.reference(key)).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr

from flufl.bounce import all_failures

from mailer.mail.mime import KEY_HEADER
from mailer.rules.bounces import COMPLAINT, HARD, SOFT, severity

DELIVERY_STATUS = "delivery-status"
FEEDBACK_REPORT = "feedback-report"
# Who writes non-standard bounces: the mail system, never a person.
DAEMONS = re.compile(r"^(mailer-daemon|mail-daemon|postmaster|mail\.delivery)\b", re.IGNORECASE)
REFERENCE = re.compile(r"^[0-9a-f]{32}$")
QUOTED_KEY = re.compile(rb"^" + KEY_HEADER.encode() + rb":\s*([0-9a-f]{32})\s*$", re.I | re.M)
QUOTED_ID = re.compile(
    rb"^Message-ID:\s*<([0-9a-f]{32})@[^>\s]+>\s*$", re.IGNORECASE | re.MULTILINE
)
DIAGNOSTIC_LENGTH = 300


@dataclass(frozen=True)
class Report:
    """What one report says about one recipient of one message."""

    kind: str  # HARD, SOFT or COMPLAINT
    status: str  # "5.1.1"; "" for a complaint
    diagnostic: str  # the remote server's words, or the complaint's feedback type
    recipient: str  # the address the report names, "" when it names none
    references: tuple[str, ...]  # reference(key) values of the message it answers
    report_id: str  # the report's own Message-ID (or a hash of it): each is taken once


def candidate(headers: Message) -> bool:
    """Whether a message may be a bounce report, from its headers: worth reading whole.

    A report's type says so; a non-standard bounce comes from the mail system
    (MAILER-DAEMON, postmaster). An auto-reply or a person's mail is neither.
    """
    if headers.get_content_type() == "multipart/report":
        return headers.get_param("report-type", "") in (DELIVERY_STATUS, FEEDBACK_REPORT)
    sender = parseaddr(str(headers.get("From", "")))[1]
    return bool(DAEMONS.match(sender))


def parse(raw: bytes) -> list[Report]:
    """The reports a message holds: a recipient each; none when it is not a bounce at all."""
    message = message_from_bytes(raw, policy=policy.compat32)
    report_id = _report_id(message, raw)
    kind = message.get_param("report-type", "") if message.is_multipart() else ""
    if message.get_content_type() == "multipart/report" and kind == DELIVERY_STATUS:
        return _delivery_status(message, raw, report_id)
    if message.get_content_type() == "multipart/report" and kind == FEEDBACK_REPORT:
        return _complaint(message, raw, report_id)
    return _non_standard(message, raw, report_id)


def _delivery_status(message: Message, raw: bytes, report_id: str) -> list[Report]:
    references = _references(message, raw)
    found = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        # The first block is about the message, each later one about a recipient.
        for block in blocks[1:] if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            if action != "failed":
                continue  # delayed, delivered, relayed, expanded: not a bounce
            status = str(block.get("Status", "")).strip() or "5.0.0"
            status = status.split()[0]
            kind = severity(status) or HARD
            recipient = _address(block.get("Original-Recipient") or block.get("Final-Recipient"))
            diagnostic = _diagnostic(block.get("Diagnostic-Code", ""))
            found.append(Report(kind, status, diagnostic, recipient, references, report_id))
    return found


def _complaint(message: Message, raw: bytes, report_id: str) -> list[Report]:
    fields = _feedback_fields(message)
    feedback = str(fields.get("Feedback-Type", "abuse")).strip().lower()
    if feedback not in ("abuse", "fraud", "other", "virus"):
        return []  # auth-failure, not-spam: not the recipient's complaint
    recipient = _address(fields.get("Original-Rcpt-To", ""))
    returned = _returned_headers(message)
    if not recipient and returned is not None:
        recipient = parseaddr(str(returned.get("To", "")))[1]
    references = _references(message, raw)
    return [Report(COMPLAINT, "", f"feedback: {feedback}", recipient, references, report_id)]


def _non_standard(message: Message, raw: bytes, report_id: str) -> list[Report]:
    temporary, permanent = all_failures(message)
    references = _references(message, raw)
    found = [
        Report(HARD, "5.0.0", "", address.decode("utf-8", "replace"), references, report_id)
        for address in sorted(permanent)
    ]
    found += [
        Report(SOFT, "4.0.0", "", address.decode("utf-8", "replace"), references, report_id)
        for address in sorted(temporary - permanent)
    ]
    return found


def _feedback_fields(message: Message) -> Message:
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            return HeaderParser().parsestr(str(payload))
    return Message()


def _returned_headers(message: Message) -> Message | None:
    """The original's headers as the report quotes them (message/rfc822 or text/rfc822-headers)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if kind == "text/rfc822-headers":
            text = part.get_payload(decode=True) or b""
            assert isinstance(text, bytes)
            return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    return None


def _references(message: Message, raw: bytes) -> tuple[str, ...]:
    """reference(key) values the report quotes, most trusted first, without repeats."""
    found = []
    returned = _returned_headers(message)
    if returned is not None:
        key = str(returned.get(KEY_HEADER, "")).strip().lower()
        found.append(key)
        found.append(_id_reference(str(returned.get("Message-ID", ""))))
    # A non-standard bounce quotes the original as text: look for the same headers in it.
    found += [m.decode("ascii").lower() for m in QUOTED_KEY.findall(raw)]
    found += [m.decode("ascii").lower() for m in QUOTED_ID.findall(raw)]
    return tuple(dict.fromkeys(ref for ref in found if REFERENCE.match(ref)))


def _id_reference(message_id: str) -> str:
    local = message_id.strip().strip("<>").partition("@")[0].lower()
    return local if REFERENCE.match(local) else ""


def _address(field: object) -> str:
    """'rfc822; ana@example.org' -> 'ana@example.org'."""
    text = str(field or "").strip()
    if ";" in text:
        text = text.split(";", 1)[1]
    return parseaddr(text.strip())[1]


def _diagnostic(field: object) -> str:
    text = " ".join(str(field or "").split())
    if text.lower().startswith("smtp;"):
        text = text[5:].strip()
    return text[:DIAGNOSTIC_LENGTH]


def _report_id(message: Message, raw: bytes) -> str:
    own = str(message.get("Message-ID", "")).strip()
    return own or "sha256:" + hashlib.sha256(raw).hexdigest()
