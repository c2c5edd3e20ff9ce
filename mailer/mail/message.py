"""The message model: a Body shared by many, a Draft per recipient, the OutgoingMessage sent.

A Body holds a rendered template whose per-recipient values are still
placeholders (`%%mailer:name%%`). The ledger keeps each Body once and, per
message, only the recipient's values; `Draft.message()` fills them in when
the message is sent, so ten thousand confirmations store one body, not ten
thousand.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

# The states live in mail.states (the ledger reads them without this model); re-exported.
from mailer.mail.states import FAILED as FAILED
from mailer.mail.states import PAUSE as PAUSE
from mailer.mail.states import RETRY as RETRY
from mailer.mail.states import SENT as SENT
from mailer.mail.states import UNKNOWN as UNKNOWN
from mailer.settings.kinds import KINDS


def priority(kind: str) -> int:
    """The order kinds go out in when the quota cannot take everything: lower first.

    Bulk mail (as each job kind declares it) waits behind everything
    time-critical (confirmations, reminders, changes).
    """
    return 1 if any(kind in job_kind.bulk for job_kind in KINDS.values()) else 0


PERSON_FIELDS = (
    "name",
    "first_name",
    "email",
    "position",
    "unsubscribe_url",
    "unsubscribe_mailto",
    "forget_url",
    "release_url",
    "claim_url",
    "offer_until",
)
TOKEN = re.compile(r"%%mailer:(\w+)%%")
MARK = "%%mailer:"


def placeholder(name: str) -> str:
    return f"%%mailer:{name}%%"


def fill(template: str, values: Mapping[str, str], escape: bool = False) -> str:
    """Put a recipient's values into a template in one pass (values are never re-scanned)."""
    if MARK not in template:
        return template
    pieces = _pieces(template)
    out = list(pieces)
    for at in range(1, len(out), 2):  # odd places hold the placeholders' names
        text = values.get(out[at], "")
        out[at] = html.escape(text) if escape else text
    return "".join(out)


@functools.lru_cache(maxsize=32)
def _pieces(template: str) -> tuple[str, ...]:
    """A template split once at its placeholders, for every recipient of its body."""
    return tuple(TOKEN.split(template))


def fill_calendar(data: bytes, values: Mapping[str, str]) -> bytes:
    """A recipient's values in an .ics, its long lines folded again at 75 octets (RFC 5545).

    Only the lines holding a placeholder are filled and folded per recipient;
    the others were folded once for every recipient of the invitation.
    """
    if b"%%mailer:" not in data:
        return data
    out: list[str] = []
    for line in _calendar_lines(data):
        if MARK in line:
            out.extend(_fold(part) for part in fill(line, values).split("\r\n"))
        else:
            out.append(line)
    return "\r\n".join(out).encode("utf-8")


@functools.lru_cache(maxsize=64)
def _calendar_lines(data: bytes) -> tuple[str, ...]:
    """An .ics template's lines, folded already where they hold no placeholder."""
    lines = data.decode("utf-8").split("\r\n")
    return tuple(line if MARK in line else _fold(line) for line in lines)


def _fold(line: str) -> str:
    if len(line) <= 75 and (line.isascii() or len(line.encode("utf-8")) <= 75):
        return line  # nothing to fold: most lines
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > 75:
            parts.append(current)
            current, size = " ", 1
        current += char
        size += width
    parts.append(current)
    return "\r\n".join(parts)


def personal(attachment: Attachment, values: Mapping[str, str]) -> Attachment:
    """An attachment with the recipient's values in it (an invitation names its attendee)."""
    if not attachment.content_type.startswith("text/calendar"):
        return attachment
    data = fill_calendar(attachment.data, values)
    return attachment if data == attachment.data else replace(attachment, data=data)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Body:
    """What everyone who gets the same template, event and variant shares."""

    subject: str
    html: str
    text: str
    sender_email: str
    sender_name: str
    reply_to: str = ""
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    # Person fields every recipient's own values make: (field, text with placeholders).
    # A digest's links are the same text around each reader's token, so the ledger keeps
    # the token per message and the links' text once, here.
    derived: tuple[tuple[str, str], ...] = ()

    @functools.cached_property
    def id(self) -> str:
        import hashlib  # its OpenSSL start-up slows `mailer status`, which never needs it

        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:32]

    def to_json(self) -> str:
        data = {
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "sender_email": self.sender_email,
            "sender_name": self.sender_name,
            "reply_to": self.reply_to,
            "attachments": [
                [a.filename, a.content_type, base64.b64encode(a.data).decode("ascii")]
                for a in self.attachments
            ],
            "headers": [list(h) for h in self.headers],
        }
        if self.derived:  # only then: every other body's text, and so its id, stays as it was
            data["derived"] = [list(d) for d in self.derived]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Body:
        data = json.loads(text)
        data["attachments"] = tuple(
            Attachment(name, kind, base64.b64decode(blob))
            for name, kind, blob in data["attachments"]
        )
        data["headers"] = tuple(tuple(h) for h in data["headers"])
        data["derived"] = tuple(tuple(d) for d in data.get("derived", ()))
        return cls(**data)


class Draft(NamedTuple):
    """One decided message: who gets which body, with their own values.

    A tuple, as immutable as a frozen dataclass and made in a quarter of the
    time: a digest to 100,000 readers makes 100,000.
    """

    key: str
    kind: str
    event_id: str
    to_email: str
    to_name: str
    created_at: datetime
    body: Body
    person: Mapping[str, str] = MappingProxyType({})

    def message(self) -> OutgoingMessage:
        body = self.body
        person = self.full_person()
        return OutgoingMessage(
            key=self.key,
            kind=self.kind,
            event_id=self.event_id,
            to_email=self.to_email,
            to_name=self.to_name,
            sender_email=body.sender_email,
            sender_name=body.sender_name,
            reply_to=body.reply_to,
            subject=fill(body.subject, person),
            text=fill(body.text, person),
            html=fill(body.html, person, escape=True),
            created_at=self.created_at,
            attachments=tuple(personal(a, person) for a in body.attachments),
            headers=tuple((name, fill(value, person)) for name, value in body.headers),
            body_id=body.id,
            person=tuple(sorted(person.items())),
            body=body,
        )

    def full_person(self) -> Mapping[str, str]:
        """The recipient's values: their own, and those their body makes from them."""
        derived = self.body.derived
        if not derived:
            return self.person
        own = self.person
        return {**own, **{name: fill(text, own) for name, text in derived}}


@dataclass(frozen=True)
class OutgoingMessage:
    """A message as transports send it.

    `body` is the shared template with placeholders still in it, and `person` the
    values for them, so a transport can send one body with per-recipient values;
    when `body` is given, subject, text and html are what it makes with `person`
    (as Draft.message() fills them), and mime_bytes encodes from it.
    """

    key: str
    kind: str
    event_id: str
    to_email: str
    to_name: str
    sender_email: str
    sender_name: str
    reply_to: str
    subject: str
    text: str
    html: str
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body_id: str = ""
    person: tuple[tuple[str, str], ...] = ()
    body: Body | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SendResult:
    """How one message fared: sent, retry on a later run, failed for good, unknown, or pause.

    `bounced` marks a permanent refusal of the address itself (such as SMTP 550):
    the address goes on the suppression list and no job writes to it again.
    A PAUSE carries `resume_at` when the provider said when (SendGrid's reset
    header), and `quota` when the day's quota is spent (Gmail's 5.4.5).
    """

    key: str
    state: str
    provider_id: str = ""
    reason: str = ""
    bounced: bool = False
    resume_at: datetime | None = None
    quota: bool = False
