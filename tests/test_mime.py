"""What a recipient's mail client reads back from the bytes mailer sends."""

from __future__ import annotations

import base64
import binascii
import io
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr

from conftest import NOW, body_text
from hypothesis import given, settings
from hypothesis import strategies as st
from test_same_bytes import normalised

from mailer.core.text import clean_text
from mailer.mail.message import Attachment, Body, Draft, OutgoingMessage
from mailer.mail.mime import KEY_HEADER, WIRE, message_id, mime_bytes, reference

LONG_URL = "https://mail.example.org/unsubscribe/" + "x" * 200


def message(**changes) -> OutgoingMessage:
    fields = dict(
        key="confirmation:ccs:zoe@example.org",
        kind="confirmation",
        event_id="ccs",
        to_email="zoe@example.org",
        to_name="Zoë Ndiaye, LCSW",
        sender_email="sessions@example.org",
        sender_name="Community Care Network",
        reply_to="organizers@example.org",
        subject="You're confirmed: Café conversation — Wed 12:00",
        text="Hello Zoë,\nsee you Wednesday.\n" + "A long line. " * 20,
        html="<p>Hello Zoë &amp; friends</p>" + "<p>x</p>" * 50,
        created_at=NOW,
        attachments=(Attachment("invite.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n" * 40),),
        headers=(("List-Unsubscribe", f"<{LONG_URL}>"),),
    )
    return OutgoingMessage(**{**fields, **changes})


def test_every_part_reads_back_as_written():
    sent = message()
    data = mime_bytes(sent)
    read = message_from_bytes(data, policy=policy.default)

    assert read["Subject"] == sent.subject
    assert read["To"].addresses[0].display_name == "Zoë Ndiaye, LCSW"
    assert read["To"].addresses[0].addr_spec == "zoe@example.org"
    assert read["From"].addresses[0].addr_spec == "sessions@example.org"
    assert read["Reply-To"] == "organizers@example.org"
    assert read["Message-ID"].endswith("@example.org>")
    assert read["List-Unsubscribe"] == f"<{LONG_URL}>"
    assert body_text(read).replace("\r\n", "\n") == sent.text
    assert body_text(read, "html").replace("\r\n", "\n") == sent.html
    (invite,) = list(read.iter_attachments())
    assert invite.get_filename() == "invite.ics"
    assert invite.get_payload(decode=True) == sent.attachments[0].data
    assert invite.get_content_charset() == "utf-8"
    assert data.count(b"MIME-Version") == 1


def test_lines_stay_within_smtp_limits_and_the_url_stays_whole():
    data = mime_bytes(message())
    lines = data.split(b"\r\n")

    assert max(len(line) for line in lines) <= 998
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert f"List-Unsubscribe: <{LONG_URL}>".encode() in lines
    assert data.isascii()


def test_a_message_without_attachments_is_multipart_alternative():
    read = message_from_bytes(mime_bytes(message(attachments=())), policy=policy.default)

    assert read.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in read.iter_parts()] == ["text/plain", "text/html"]


def test_line_breaks_typed_into_a_name_cannot_add_headers():
    data = mime_bytes(message(to_name="Eve\r\nBcc: everyone@example.org", subject="Hi\nBcc: x"))
    read = message_from_bytes(data, policy=policy.default)

    assert read["Bcc"] is None
    assert read["To"].addresses[0].display_name == "Eve Bcc: everyone@example.org"


def stdlib_bytes(message: OutgoingMessage) -> bytes:
    """The same message through the stdlib's compat32 classes and generator: the reference."""

    def text(subtype: str, body: str) -> MIMENonMultipart:
        part = MIMENonMultipart("text", subtype, policy=WIRE, charset="utf-8")
        del part["MIME-Version"]
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
        return part

    def header(value: str) -> str | Header:
        return value if value.isascii() else Header(value, "utf-8")

    alternative = MIMEMultipart("alternative", policy=WIRE)
    alternative.attach(text("plain", message.text))
    alternative.attach(text("html", message.html))
    outer = alternative
    if message.attachments:
        outer = MIMEMultipart("mixed", policy=WIRE)
        del alternative["MIME-Version"]
        outer.attach(alternative)
        for attachment in message.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            part = MIMENonMultipart(maintype, subtype, policy=WIRE, charset="utf-8")
            del part["MIME-Version"]
            part["Content-Transfer-Encoding"] = "base64"
            part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            part.set_payload(base64.encodebytes(attachment.data).decode("ascii"))
            outer.attach(part)
    outer["Subject"] = header(clean_text(message.subject))  # type: ignore[assignment]
    outer["From"] = formataddr((clean_text(message.sender_name), message.sender_email), "utf-8")
    outer["To"] = formataddr((clean_text(message.to_name), message.to_email), "utf-8")
    if message.reply_to:
        outer["Reply-To"] = clean_text(message.reply_to)
    outer["Date"] = format_datetime(message.created_at)
    outer["Message-ID"] = message_id(message)
    outer[KEY_HEADER] = reference(message.key)
    for name, value in message.headers:
        outer[name] = header(clean_text(value))  # type: ignore[assignment]
    out = io.BytesIO()
    BytesGenerator(out, policy=WIRE).flatten(outer)
    return out.getvalue()


# Lines that start with "From ", trail spaces, run past 76 octets, hold "=", "." alone.
awkward = st.lists(
    st.sampled_from(["From here", "a ", "x" * 90, "=3D", ".", "", "\t", "é" * 40, "<p>"]),
    max_size=12,
).map("\n".join)
texts = st.one_of(st.text(max_size=300), awkward, st.text(alphabet=" ab\r\n=.F", max_size=80))
header_texts = st.one_of(
    st.text(max_size=120), st.text(alphabet='ab c:;,<>"=?', max_size=1100), st.just("x" * 1000)
)


@settings(max_examples=300, deadline=None)
@given(text=texts, html=texts, subject=header_texts, name=header_texts, extra=header_texts)
def test_the_bytes_are_the_stdlib_generators_but_for_the_boundaries(
    text, html, subject, name, extra
):
    for attachments in ((), message().attachments):
        sent = message(
            text=text,
            html=html,
            subject=subject,
            to_name=name,
            headers=(("List-Unsubscribe", extra),),
            attachments=attachments,
        )
        assert normalised(mime_bytes(sent)) == normalised(stdlib_bytes(sent))


# Templates as a Body holds them: awkward lines with a person's values to fill in anywhere.
templates = st.lists(
    st.one_of(
        texts,
        st.text(alphabet=" .=a\té", min_size=60, max_size=240),  # long lines, spaces, dots
        st.sampled_from(["%%mailer:name%%", "%%mailer:first_name%%", "x" * 75]),
    ),
    max_size=8,
).map("".join)
values = st.one_of(st.text(max_size=40), st.text(alphabet=" .=\tFrom\r\né", max_size=12))


@settings(max_examples=150, deadline=None)
@given(text=templates, html=templates, name=values, first_name=values)
def test_a_message_filled_from_a_shared_body_has_the_stdlib_generators_bytes(
    text, html, name, first_name
):
    body = Body("Hello", html, text, "sessions@example.org", "Community Care Network")
    person = {"name": name, "first_name": first_name}
    for _ in range(2):  # the second time from the body's template as encoded the first time
        sent = Draft(
            "confirmation:ccs:zoe@example.org",
            "confirmation",
            "ccs",
            "zoe@example.org",
            "Zoë",
            NOW,
            body,
            person,
        ).message()
        assert normalised(mime_bytes(sent)) == normalised(stdlib_bytes(sent))


def test_a_placeholder_after_a_long_run_of_text_is_encoded_as_the_whole_line_would_be():
    # Spaces, tabs and dots just before a placeholder encode differently at a line's end.
    for width in range(60, 160, 3):
        for before in ("", " ", "   ", ".", " . .", "\t \t ", "    x", "=", "é"):
            line = "a" * width + before + "%%mailer:name%%" + " tail." * 20
            body = Body("Hello", line, line + "\n" + line, "s@example.org", "Sessions")
            for name in ("", "x" * 90):
                sent = Draft(
                    "k", "confirmation", "ccs", "z@example.org", "", NOW, body, {"name": name}
                ).message()
                assert normalised(mime_bytes(sent)) == normalised(stdlib_bytes(sent))
