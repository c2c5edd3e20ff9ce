"""Bounces for SMTP senders: reports read from the sending mailbox on a real IMAP server.

The messages that bounce are first really sent by the SMTP transport to
aiosmtpd, so their Message-ID and X-Mailer-Key are the ones mailer wrote; the
reports quoting them are put in a pymap mailbox over IMAP, and the bounces
job reads them back through imaplib.
"""

from __future__ import annotations

import imaplib
import itertools
import json
import re
import sqlite3
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
import trustme
from conftest import NOW
from mail_servers import ImapServer, Received, SmtpServer, SmtpSink, TlsFront

from mailer.core.errors import ConfigError
from mailer.mail.mime import reference
from mailer.rules.bounces import HARD, SOFT, decide, severity
from mailer.sending.bounces.imap import password
from mailer.sending.bounces.reports import candidate, parse

SENDER = "sessions@example.org"
PASSWORD = "app-password-for-imap"
FOLDERS = (f"bounces-{n}" for n in itertools.count())


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")
    monkeypatch.setenv("IMAP_PASSWORD", PASSWORD)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def imap_server(authority, tmp_path_factory) -> Iterator[ImapServer]:
    folder = tmp_path_factory.mktemp("imap")
    issued = authority.issue_cert("localhost", "127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    issued.private_key_pem.write_to_path(str(folder / "key.pem"))
    with ImapServer(folder / "cert.pem", folder / "key.pem", SENDER, PASSWORD) as server:
        yield server


class Mailbox:
    """The test's own IMAP session with the sending mailbox: puts mail in, looks at flags."""

    def __init__(self, server: ImapServer, authority: trustme.CA, folder: str):
        self.folder = f'"{folder}"'
        self.imap = imaplib.IMAP4("localhost", server.port)
        context = ssl.create_default_context()
        authority.configure_trust(context)
        self.imap.starttls(ssl_context=context)
        self.imap.login(server.user, server.password)
        self.imap.create(self.folder)

    def put(self, *messages: bytes) -> None:
        for message in messages:
            when = imaplib.Time2Internaldate(NOW.timestamp())
            status, _ = self.imap.append(self.folder, None, when, message)
            assert status == "OK"

    def flags(self) -> dict[str, set[str]]:
        """Subject -> flags of every message in the folder, as the server holds them now."""
        self.imap.select(self.folder, readonly=True)
        _, data = self.imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found = {}
        for item in data:
            if isinstance(item, tuple):
                subject = item[1].decode().partition(":")[2].strip()
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                assert flags is not None, item[0]
                found[subject] = set(flags.group(1).decode().split())
        self.imap.close()
        return found

    def close(self) -> None:
        self.imap.logout()


@pytest.fixture
def mailbox(imap_server, authority) -> Iterator[Mailbox]:
    box = Mailbox(imap_server, authority, next(FOLDERS))
    yield box
    box.close()


def use_bounces(
    site,
    server: ImapServer,
    authority: trustme.CA,
    mailbox: Mailbox,
    security: str = "starttls",
    port: int = 0,
) -> None:
    authority.cert_pem.write_to_path(str(site.root / "ca.pem"))
    with site.config.open("a", encoding="utf-8") as f:
        f.write(
            "\n[bounces]\n"
            f'host = "localhost"\nport = {port or server.port}\nusername = "{server.user}"\n'
            f'security = "{security}"\nca_file = "ca.pem"\nfolder = {mailbox.folder}\n'
        )


def headers_of(received: Received) -> str:
    """The original's header block as a report quotes it."""
    return received.data.decode().split("\r\n\r\n", 1)[0]


def gmail_dsn(original: Received, status: str, diagnostic: str) -> bytes:
    """A Delivery Status Notification (Failure) as Gmail writes it, the original inside."""
    to = original.recipients[0]
    original_id = original.mime["Message-ID"]
    return (
        f"""\
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {SENDER}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
References: {original_id}
In-Reply-To: {original_id}
X-Failed-Recipients: {to}
Message-ID: <6744f3a1.050a0220.1c2b3d.0001.GMR@mx.google.com>
Date: {format_datetime(NOW)}
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3"; report-type=delivery-status

--000000000000a1b2c3
Content-Type: multipart/related; boundary="000000000000d4e5f6"

--000000000000d4e5f6
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to {to} because the address couldn't be found, \
or is unable to receive mail.

--000000000000d4e5f6--

--000000000000a1b2c3
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; {SENDER}
Arrival-Date: {format_datetime(NOW)}
X-Original-Message-ID: {original_id}

Final-Recipient: rfc822; {to}
Action: failed
Status: {status}
Remote-MTA: dns; mx.example.org. (203.0.113.25, the server for the domain example.org.)
Diagnostic-Code: smtp; {diagnostic}
Last-Attempt-Date: {format_datetime(NOW)}

--000000000000a1b2c3
Content-Type: message/rfc822

""".replace("\n", "\r\n").encode()
        + original.data
        + b"\r\n--000000000000a1b2c3--\r\n"
    )


def postfix_dsn(original: Received, status: str, diagnostic: str, n: int = 0) -> bytes:
    """Postfix's "Undelivered Mail Returned to Sender", with only the original's headers."""
    to = original.recipients[0]
    return f"""\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {SENDER}
Subject: Undelivered Mail Returned to Sender {n}
Auto-Submitted: auto-replied
Message-Id: <20261124150{n}.4B1C2@mx.example.net>
Date: {format_datetime(NOW)}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4B1C2.1764000000/mx.example.net"

--4B1C2.1764000000/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--4B1C2.1764000000/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {to}
Original-Recipient: rfc822;{to}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--4B1C2.1764000000/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{headers_of(original)}

--4B1C2.1764000000/mx.example.net--
""".replace("\n", "\r\n").encode()


def complaint(original: Received) -> bytes:
    """An ARF report from a mailbox provider's feedback loop; the recipient's address redacted."""
    quoted = re.sub(r"(?m)^To: .*$", "To: redacted@mail.example.com", headers_of(original))
    return f"""\
From: Mail AntiSpam Feedback <feedback@arf.mail.example.com>
To: {SENDER}
Subject: FW: complaint
Message-ID: <arf-20261124-0001@arf.mail.example.com>
Date: {format_datetime(NOW)}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 203.0.113.9.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: MailFeedback/1.0
Version: 1
Original-Mail-From: <{SENDER}>
Arrival-Date: {format_datetime(NOW)}

--arf
Content-Type: message/rfc822

{quoted}

(body left out)
--arf--
""".replace("\n", "\r\n").encode()


def vacation(original: Received) -> bytes:
    person = original.recipients[0]
    return f"""\
From: {person}
To: {SENDER}
Subject: Automatic reply: away until December
Auto-Submitted: auto-replied
In-Reply-To: {original.mime["Message-ID"]}
Date: {format_datetime(NOW)}
Content-Type: text/plain; charset=utf-8

I am away until December 2 and will answer when I am back.
""".replace("\n", "\r\n").encode()


ORDINARY = f"""\
From: Lena Park <lena.park@example.com>
To: {SENDER}
Subject: Coffee next week?
Date: {format_datetime(NOW)}
Content-Type: text/plain; charset=utf-8

Would Thursday suit you?
""".replace("\n", "\r\n").encode()


def send_sample(site, sink: SmtpSink) -> dict[str, Received]:
    """Run signups over SMTP; the confirmations that went, by recipient."""
    with SmtpServer(sink) as smtp:
        site.use_transport("smtp", host="127.0.0.1", port=smtp.port, security="none")
        result = site.mailer("run", "signups")
    assert result.exit_code == 0, result.output
    return {m.recipients[0]: m for m in sink.received if "confirmed" in m.mime["Subject"]}


def suppressions(site) -> dict[str, str]:
    with sqlite3.connect(site.root / "state" / "mailer.db") as db:
        return dict(db.execute("SELECT email, reason FROM suppressions"))


def test_hard_bounce_and_complaint_suppress_soft_counts_and_the_rest_stays_unread(
    site, imap_server, authority, mailbox
):
    confirmed = send_sample(site, SmtpSink())
    hard, soft, complained, away = list(confirmed)[:4]
    use_bounces(site, imap_server, authority, mailbox)
    mailbox.put(
        gmail_dsn(
            confirmed[hard],
            "5.1.1",
            "550-5.1.1 The email account that you tried to reach does not exist.\n"
            "    550 5.1.1 https://support.google.com/mail/?p=NoSuchUser",
        ),
        postfix_dsn(confirmed[soft], "4.2.2", "452 4.2.2 Mailbox full"),
        complaint(confirmed[complained]),
        vacation(confirmed[away]),
        ORDINARY,
    )

    scan = site.mailer("run", "bounces")
    again = site.mailer("run", "bounces", now=NOW + timedelta(minutes=15))
    status = site.mailer("status")
    as_json = json.loads(site.mailer("status", "--json", "--addresses").output)

    assert scan.exit_code == 0, scan.output
    assert "5 new messages read, 2 bounces, 1 complaint, 2 suppressed" in scan.output
    assert suppressions(site) == {hard: "bounce", complained: "complaint"}
    assert "soft bounce 4.2.2 (452 4.2.2 Mailbox full): counted, 1 soft bounce in" in scan.output
    assert "2 confirmed people to reach otherwise" in scan.output
    told = r"for organizers: signups row \d+, column 'Email Address': .* bounced \(5\.1\.1 .*User\)"
    assert re.search(told, scan.output)
    mailer_tab = (site.root / "lists" / "Mailer.csv").read_text()
    assert mailer_tab.count("reach them another way") == 2, "organizers see it on the sheet"
    assert hard not in scan.output, "the terminal shows masked addresses"
    flags = mailbox.flags()
    assert len(flags) == 5, "nothing deleted or moved"
    assert flags["Automatic reply: away until December"] == set()
    assert flags["Coffee next week?"] == set()
    assert not any("\\Seen" in f for f in flags.values())
    assert "0 new messages read, 0 bounces" in again.output, "each report is read once"
    assert "2 confirmed people to reach otherwise" in again.output, "open until resolved"
    assert "Bounces read from the mailbox" in status.output
    assert "hard bounce 5.1.1" in status.output and "complaint" in status.output
    assert hard not in status.output and hard not in site.mailer("status", "--json").output
    bounces = {b["email"]: b for b in as_json["bounces"]}
    assert bounces[hard]["status"] == "5.1.1" and bounces[hard]["suppressed"] == "bounce"
    assert "does not exist" in bounces[hard]["diagnostic"]
    assert bounces[soft]["kind"] == "soft" and bounces[soft]["suppressed"] == ""
    assert bounces[complained]["kind"] == "complaint"
    assert {m["key"] for m in as_json["unsent"] if m["state"] == "failed"} == {
        bounces[hard]["message"],
        bounces[soft]["message"],
    }, "the bounced messages are failed (`mailer retry` sends them again)"
    site.mailer("run", "signups", now=NOW + timedelta(minutes=20))
    notes = {row["Email Address"]: row["Note"] for row in site.rows()}
    assert notes[hard].startswith("email failed: bounced: 5.1.1 550-5.1.1 The email account")
    assert notes[soft] == "email failed: bounced: 4.2.2 452 4.2.2 Mailbox full"


def test_three_soft_bounces_in_the_last_five_sends_suppress(site, imap_server, authority, mailbox):
    sink = SmtpSink()
    person = next(iter(send_sample(site, sink)))
    starts = json.loads(site.mailer("status", "--json").output)["events"][0]["starts_at"]
    with SmtpServer(sink) as smtp:
        site.use_transport("smtp", host="127.0.0.1", port=smtp.port, security="none")
        for before in (timedelta(hours=23), timedelta(minutes=30)):
            moment = datetime.fromisoformat(starts) - before
            assert site.mailer("run", "reminders", now=moment).exit_code == 0
    sent = sink.to(person)
    assert len(sent) == 3
    use_bounces(site, imap_server, authority, mailbox)
    full = "452 4.2.2 The recipient's inbox is out of storage space"

    mailbox.put(*(postfix_dsn(m, "4.2.2", full, n) for n, m in enumerate(sent[:2])))
    two = site.mailer("run", "bounces")
    mailbox.put(postfix_dsn(sent[2], "4.2.2", full, 2))
    three = site.mailer("run", "bounces", now=NOW + timedelta(minutes=15))

    assert "2 soft bounces in the last 3 sends (suppressed at 3)" in two.output
    assert "0 suppressed" in two.output
    assert "1 new message read, 1 bounce, 0 complaints, 1 suppressed" in three.output
    assert suppressions(site) == {person: "bounce"}


def test_a_report_about_mail_mailer_did_not_send_changes_nothing(
    site, imap_server, authority, mailbox
):
    confirmed = send_sample(site, SmtpSink())
    theirs = next(iter(confirmed.values()))
    foreign = Received(
        SENDER,
        ["someone@example.net"],
        re.sub(rb"(?m)^(Message-ID|X-Mailer-Key): .*\r\n", b"", theirs.data).replace(
            b"Message-ID", b"X-Other"
        ),
        0,
        False,
    )
    use_bounces(site, imap_server, authority, mailbox)
    mailbox.put(gmail_dsn(foreign, "5.1.1", "550 5.1.1 no such user"))

    scan = site.mailer("run", "bounces")

    assert "1 bounce" not in scan.output
    assert "1 not about mailer's mail (left alone)" in scan.output
    assert suppressions(site) == {}


def test_a_non_standard_bounce_is_read_with_flufl_bounce():
    key = "confirmation:evt-1:ana@example.org"
    qmail = f"""\
From: MAILER-DAEMON@mail.example.net
To: {SENDER}
Subject: failure notice
Message-ID: <qmail-1@mail.example.net>

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<ana@example.org>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Message-ID: <{reference(key)}@example.org>
X-Mailer-Key: {reference(key)}
Subject: You're confirmed

Hello
""".replace("\n", "\r\n").encode()

    (report,) = parse(qmail)

    assert (report.kind, report.recipient) == (HARD, "ana@example.org")
    assert report.references == (reference(key),)
    assert candidate(email_headers(qmail))


def email_headers(raw: bytes):
    from email.parser import BytesHeaderParser

    return BytesHeaderParser().parsebytes(raw)


def test_auto_replies_and_ordinary_mail_are_not_candidates():
    away = b"From: ana@example.org\r\nAuto-Submitted: auto-replied\r\nSubject: Out\r\n\r\n"
    assert not candidate(email_headers(away))
    assert not candidate(email_headers(ORDINARY))


@pytest.mark.parametrize(
    ("status", "recent", "suppress"),
    [
        ("5.1.1", [True], True),
        ("4.2.2", [True, False, True], False),
        ("4.2.2", [True, True, False, True], True),
        ("4.2.2", [True, False, False, False, False, True, True], False),
    ],
)
def test_soft_bounces_count_only_within_the_last_five_sends(status, recent, suppress):
    assert decide(severity(status), recent).suppress is suppress


def test_severity_of_a_status():
    assert [severity(s) for s in ("5.7.1", "4.4.7", "2.0.0", "junk")] == [HARD, SOFT, "", ""]


def test_bounce_settings_take_the_smtp_login_and_refuse_plain_text_to_another_host(site):
    site.use_transport("smtp", host="smtp.gmail.com", username=SENDER)
    with site.config.open("a", encoding="utf-8") as f:
        f.write('\n[bounces]\nfolder = "mailer-bounces"\n')
    bounces = site.settings().bounces
    assert (bounces.host, bounces.username, bounces.effective_port) == (
        "imap.gmail.com",
        SENDER,
        993,
    )
    site.config.write_text(
        site.config.read_text().replace('folder = "mailer-bounces"', 'security = "none"')
    )
    with pytest.raises(ConfigError, match=r'\[bounces\] security: "none" would send'):
        site.settings()


def test_a_bounces_job_without_the_bounces_section_is_a_config_error(site):
    (site.root / "jobs" / "bounces.toml").write_text('kind = "bounces"\nevery = "15 minutes"\n')

    result = site.mailer("run", "bounces")

    assert result.exit_code != 0
    assert "a bounces job needs [bounces]" in result.output


def test_imaps_from_the_first_byte_as_gmail_is_reached(site, imap_server, authority, mailbox):
    confirmed = send_sample(site, SmtpSink())
    hard = next(iter(confirmed))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(tls)
    mailbox.put(gmail_dsn(confirmed[hard], "5.1.1", "550 5.1.1 no such user"))

    with TlsFront(imap_server.port, tls) as imaps:
        use_bounces(site, imap_server, authority, mailbox, security="ssl", port=imaps.port)
        result = site.mailer("run", "bounces")

    assert "1 bounce, 0 complaints, 1 suppressed" in result.output, result.output
    assert suppressions(site) == {hard: "bounce"}


def test_a_dry_run_shows_what_the_bounces_would_do_and_keeps_nothing(
    site, imap_server, authority, mailbox
):
    confirmed = send_sample(site, SmtpSink())
    hard = next(iter(confirmed))
    use_bounces(site, imap_server, authority, mailbox)
    mailbox.put(gmail_dsn(confirmed[hard], "5.1.1", "550 5.1.1 no such user"))

    dry = site.mailer("run", "bounces", "--dry-run")
    jobs = site.mailer("jobs")
    real = site.mailer("run", "bounces")

    assert dry.exit_code == 0, dry.output
    assert "1 bounce, 0 complaints, 1 suppressed" in dry.output
    assert "bounces" in jobs.output and "every 15 minutes" in jobs.output
    assert "1 bounce, 0 complaints, 1 suppressed" in real.output, "the dry run used nothing up"
    assert suppressions(site) == {hard: "bounce"}


def test_a_refused_login_fails_the_bounces_job_alone_and_never_shows_the_password(
    site, imap_server, authority, mailbox, monkeypatch
):
    use_bounces(site, imap_server, authority, mailbox)
    monkeypatch.setenv("IMAP_PASSWORD", "not-the-app-password")

    result = site.mailer("run")

    assert "refused the login for" in result.output and "App Password" in result.output
    assert "not-the-app-password" not in result.output
    assert "Signups" in result.output, "the other jobs still ran"


def test_the_password_comes_from_the_environment_or_a_file(tmp_path):
    secret_file = tmp_path / "imap"
    secret_file.write_text("from-the-file\n")

    assert password({"IMAP_PASSWORD": "imap", "SMTP_PASSWORD": "smtp"}) == "imap"
    assert password({"IMAP_PASSWORD_FILE": str(secret_file)}) == "from-the-file"
    assert password({"SMTP_PASSWORD": "smtp"}) == "smtp"
    assert password({"SMTP_PASSWORD_FILE": str(secret_file)}) == "from-the-file"
    with pytest.raises(ConfigError, match="both IMAP_PASSWORD and IMAP_PASSWORD_FILE"):
        password({"IMAP_PASSWORD": "a", "IMAP_PASSWORD_FILE": str(secret_file)})
    with pytest.raises(ConfigError, match="IMAP_PASSWORD"):
        password({})


def test_a_folder_the_mailbox_lacks_is_named_in_the_error(site, imap_server, authority, mailbox):
    use_bounces(site, imap_server, authority, mailbox)
    site.config.write_text(site.config.read_text().replace(mailbox.folder, '"Bounces typo"'))

    result = site.mailer("run", "bounces")

    assert result.exit_code != 0
    assert "no folder 'Bounces typo' in the mailbox" in result.output
