"""OutgoingMessage -> RFC 5322 bytes (multipart/alternative, Message-ID, Date).

The bytes are those the stdlib's compat32 generator writes (CRLF line ends,
headers folded at RFC 5322's 998 characters, quoted-printable text parts,
base64 attachments), put together directly: the generator re-folds every
header through `email.header.Header` and compiles a regex for each random
boundary, which made it most of the cost of sending. Headers that are plain
printable ASCII on one line go out as they are (what the generator writes for
them too); anything else is folded by the compat32 policy itself. The parts'
own headers are made once per kind of part and reused. A message made from a
shared Body has its text and html parts encoded from the body's template: the
lines without a placeholder once for every message of that body, only the
lines holding a person's values per message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import random
import re
import sys
from collections.abc import Mapping
from email import policy
from email.header import Header
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr

from mailer.core.text import clean_text
from mailer.mail.message import MARK, Attachment, OutgoingMessage, fill

# CRLF line ends for SMTP; headers use RFC 5322's 998-character limit so a long
# List-Unsubscribe URL stays one URL rather than being folded mid-way.
WIRE = policy.compat32.clone(linesep="\r\n", max_line_length=998)
# Carries reference(key): a bounce that quotes the original's headers names the message
# even where a relay replaced the Message-ID. Opaque: no address or session in it.
KEY_HEADER = "X-Mailer-Key"
CRLF = b"\r\n"
LINE_END = re.compile(rb"\r\n|\r|\n")
FROM_LINE = re.compile(rb"^From ", re.MULTILINE)  # the generator's mangle_from_
SIMPLE = re.compile(r"[!-~]+(?: [!-~]+)*\Z")  # one line of printable ASCII, single spaces
WIDTH = len(repr(sys.maxsize - 1))
# Templates kept encoded: the ledger hands messages over grouped by body, so a few suffice.
PREPARED_TEMPLATES = 16
# A template's lines: quoted-printable bytes for each run of lines with nothing to fill, a
# Fillable for each line with something; and its last line (after the last line end), to fill.
Fillable = tuple[str, bytes, int]  # the template line, its encoded head, the head's input bytes
Prepared = tuple[tuple[bytes | Fillable, ...], str]
_PREPARED: dict[tuple[str, bool], Prepared] = {}
TEXT_PART = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)


def mime_bytes(message: OutgoingMessage) -> bytes:
    """The message as it goes on the wire (or into an .eml file)."""
    parts = _text_parts(message)
    alternative, boundary = _multipart(b"alternative", parts)
    if message.attachments:
        inner = _header(b"Content-Type", _content_type(b"alternative", boundary)) + CRLF
        outer = [inner + alternative] + [_attachment(a) for a in message.attachments]
        body, boundary = _multipart(b"mixed", outer)
        kind = b"mixed"
    else:
        body, kind = alternative, b"alternative"
    head = [
        _header(b"Content-Type", _content_type(kind, boundary)),
        b"MIME-Version: 1.0\r\n",
        _header(b"Subject", _encoded(clean_text(message.subject))),
        _header(b"From", _address(message.sender_name, message.sender_email)),
        _header(b"To", _address(message.to_name, message.to_email)),
    ]
    if message.reply_to:
        head.append(_header(b"Reply-To", clean_text(message.reply_to)))
    head.append(_header(b"Date", format_datetime(message.created_at)))
    head.append(_header(b"Message-ID", message_id(message)))
    head.append(_header(KEY_HEADER.encode("ascii"), reference(message.key)))
    for name, value in message.headers:
        head.append(_header(name.encode("ascii"), _encoded(clean_text(value))))
    head.append(CRLF)
    head.append(body)
    return b"".join(head)


def _multipart(subtype: bytes, parts: list[bytes]) -> tuple[bytes, bytes]:
    """The body of a multipart (its boundary lines and parts) and the boundary it uses."""
    while True:
        boundary = b"=" * 15 + b"%0*d" % (WIDTH, random.randrange(sys.maxsize)) + b"=="
        if not any(boundary in part for part in parts):
            break
    line = b"--" + boundary
    body = line + CRLF + (CRLF + line + CRLF).join(parts) + CRLF + line + b"--" + CRLF
    return body, boundary


def _content_type(subtype: bytes, boundary: bytes) -> str:
    return f'multipart/{subtype.decode()}; boundary="{boundary.decode()}"'


def _text_parts(message: OutgoingMessage) -> list[bytes]:
    """The plain and html parts, from the shared body's encoded template where there is one."""
    body = message.body
    if body is not None:
        person = dict(message.person)
        text = _filled(body.text, person, escape=False)
        html = _filled(body.html, person, escape=True)
        if text is not None and html is not None:
            return [TEXT_PART % b"plain" + text, TEXT_PART % b"html" + html]
    return [
        TEXT_PART % b"plain" + _quoted_printable(message.text),
        TEXT_PART % b"html" + _quoted_printable(message.html),
    ]


def _filled(template: str, person: Mapping[str, str], escape: bool) -> bytes | None:
    """fill(template, person, escape) quoted-printable, or None where it needs encoding whole.

    Quoted-printable encodes each line on its own, so the template's lines
    without a placeholder are encoded once and reused for every recipient.
    """
    prepared = _prepared(template, escape)
    if prepared is None:
        return None
    lines, last = prepared
    out = []
    for line in lines:
        if isinstance(line, bytes):
            out.append(line)
            continue
        template_line, head, consumed = line
        filled = fill(template_line, person, escape)
        if "\n" in filled or "\r" in filled:
            return None
        out.append(head + _encode_bytes((filled + "\n").encode("utf-8")[consumed:]))
    filled = fill(last, person, escape)
    if "\n" in filled or "\r" in filled:
        return None
    if filled:
        out.append(_encode(filled))
    return b"".join(out)


def _prepared(template: str, escape: bool) -> Prepared | None:
    """The template's lines encoded where there is nothing to fill (None: it holds a CR)."""
    if "\r" in template:
        return None
    found = _PREPARED.get((template, escape))
    if found is None:
        *lines, last = template.split("\n")
        encoded: list[bytes | Fillable] = []
        for line in lines:
            if MARK in line:
                encoded.append(_fillable(line))
            elif encoded and isinstance(encoded[-1], bytes):  # a run of lines, joined once
                encoded[-1] += _encode(line + "\n")
            else:
                encoded.append(_encode(line + "\n"))
        found = (tuple(encoded), last)
        if len(_PREPARED) >= PREPARED_TEMPLATES:
            del _PREPARED[next(iter(_PREPARED))]
        _PREPARED[(template, escape)] = found
    return found


def _fillable(line: str) -> Fillable:
    """A line with a placeholder, and the encoding of what comes before it (up to a soft break).

    Quoted-printable output is the same up to its last soft line break before
    the first placeholder, whatever is filled in, and the encoder starts each
    line afresh after a soft break: so only the rest is encoded per recipient.
    The head ends before the placeholder's last two characters, and before any
    space, tab or dot there, whose encoding depends on what follows them.
    """
    before = line[: line.index(MARK)].encode("utf-8")[:-2].rstrip(b" \t.")
    encoded = binascii.b2a_qp(before, istext=True)
    cut = encoded.rfind(b"=\n")
    if cut < 0:
        return line, b"", 0
    head = encoded[: cut + 2]
    return line, _lines(_mangle_from(head)), len(binascii.a2b_qp(head))


def _quoted_printable(text: str) -> bytes:
    """The text quoted-printable, encoded line by line as the generator's encoder does."""
    if "\r" in text:  # b2a_qp takes its line ends from the first one: encode it whole
        return _encode(text)
    *lines, last = text.split("\n")
    out = [_encode(line + "\n") for line in lines]
    if last:
        out.append(_encode(last))
    return b"".join(out)


def _encode(text: str) -> bytes:
    return _encode_bytes(text.encode("utf-8"))


def _encode_bytes(data: bytes) -> bytes:
    return _lines(_mangle_from(binascii.b2a_qp(data, istext=True)))


def _mangle_from(encoded: bytes) -> bytes:
    """A line starting "From " as the generator writes it (mangle_from_), not read as mbox."""
    return FROM_LINE.sub(b">From ", encoded) if b"From " in encoded else encoded


def _lines(payload: bytes) -> bytes:
    """Every line end as CRLF, as the generator writes a payload's lines."""
    if b"\n" in payload and b"\r" not in payload:
        return payload.replace(b"\n", CRLF)
    return CRLF.join(LINE_END.split(payload))


def _attachment(attachment: Attachment) -> bytes:
    head = _attachment_head(attachment.filename, attachment.content_type)
    return head + _lines(base64.encodebytes(attachment.data))


@functools.lru_cache(maxsize=64)
def _attachment_head(filename: str, content_type: str) -> bytes:
    """An attachment part's headers and the blank line after them, made once per kind."""
    kind, *extra = (part.strip() for part in content_type.split(";"))
    maintype, _, subtype = kind.partition("/")
    params = {"charset": "utf-8"} if maintype == "text" else {}
    params.update(p.partition("=")[::2] for p in extra if "=" in p)
    part = MIMENonMultipart(maintype, subtype, policy=WIRE, **params)
    del part["MIME-Version"]
    part["Content-Transfer-Encoding"] = "base64"
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return b"".join(WIRE.fold_binary(name, value) for name, value in part.items()) + CRLF


def _header(name: bytes, value: str | Header) -> bytes:
    """One header line as the compat32 generator writes it."""
    if isinstance(value, str) and len(value) + len(name) < 996 and SIMPLE.match(value):
        return name + b": " + value.encode("ascii") + CRLF
    return WIRE.fold_binary(name.decode("ascii"), value)  # type: ignore[arg-type]


def _encoded(value: str) -> str | Header:
    """ASCII as it is; anything else as an RFC 2047 encoded word."""
    return value if value.isascii() else Header(value, "utf-8")


def _address(name: str, email: str) -> str:
    return formataddr((clean_text(name), email), charset="utf-8")


def reference(key: str) -> str:
    """A message's key as its headers carry it: 32 hex digits, the same for every resend."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def message_id(message: OutgoingMessage) -> str:
    """Stable per idempotency key, so a resend after a crash is recognisably the same mail."""
    domain = message.sender_email.rpartition("@")[2] or "mailer.invalid"
    return f"<{reference(message.key)}@{domain}>"
