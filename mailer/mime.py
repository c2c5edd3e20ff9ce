"""OutgoingMessage -> an RFC 5322 message (multipart/alternative, Message-ID, Date)."""

from __future__ import annotations

import hashlib
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailer.message import OutgoingMessage
from mailer.rows import clean_text

# Bodies are encoded with SMTP's 78-column lines; headers are written with RFC 5322's
# 998-character limit so a long List-Unsubscribe URL stays a URL instead of being
# turned into an RFC 2047 encoded word (which mail clients would not recognise).
HEADERS_POLICY = policy.SMTP.clone(max_line_length=998)


def build_mime(message: OutgoingMessage) -> EmailMessage:
    mime = EmailMessage(policy=policy.SMTP)
    mime["Subject"] = clean_text(message.subject)
    mime["From"] = _address(message.sender_name, message.sender_email)
    mime["To"] = _address(message.to_name, message.to_email)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Date"] = format_datetime(message.created_at)
    mime["Message-ID"] = message_id(message)
    for name, value in message.headers:
        mime[name] = clean_text(value)
    mime.set_content(message.text, cte="quoted-printable")
    mime.add_alternative(message.html, subtype="html", cte="quoted-printable")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    mime.policy = HEADERS_POLICY
    return mime


def message_id(message: OutgoingMessage) -> str:
    """Stable per idempotency key, so a resend after a crash is recognisably the same mail."""
    digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()[:32]
    domain = message.sender_email.rpartition("@")[2] or "mailer.invalid"
    return f"<{digest}@{domain}>"


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=clean_text(name), username=local, domain=domain)


def mask(email: str) -> str:
    """An address as logs may show it: a***@example.org."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"
