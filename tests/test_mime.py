"""What a recipient's mail client reads back from the bytes mailer sends."""

from __future__ import annotations

from email import message_from_bytes, policy

from conftest import NOW, body_text

from mailer.mail.message import Attachment, OutgoingMessage
from mailer.mail.mime import mime_bytes

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
