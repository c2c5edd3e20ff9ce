"""Delivery over SMTP to a real aiosmtpd server on loopback: plain, STARTTLS and TLS."""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import datetime, timedelta

import icalendar
import pytest
import trustme
from conftest import NOW
from mail_servers import SmtpServer, SmtpSink

from mailer.ledger import open_ledger
from mailer.sending.transports.smtp import SmtpTransport, envelope_address, transmit
from mailer.settings.config import SmtpSettings

BOUNCING = "daniel.reyes@example.org"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    """Real transports sign digest unsubscribe links with MAILER_SECRET."""
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def server_tls(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def test_sample_confirmations_arrive_over_one_connection(site):
    sink = SmtpSink()
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert len(sink.received) == 14
    assert sink.connections == 1
    assert not site.sent(), "nothing goes to the outbox when SMTP is the transport"
    assert {row["Status"] for row in site.rows()} >= {"confirmed", "waitlisted"}

    confirmation = next(m for m in sink.received if "confirmed" in m.mime["Subject"].lower())
    mime = confirmation.mime
    assert confirmation.sender == "sessions@example.org"
    assert mime["To"].addresses[0].addr_spec == confirmation.recipients[0]
    assert mime["Reply-To"] == "organizers@example.org"
    assert mime["Message-ID"].endswith("@example.org>")
    assert mime.get_content_type() == "multipart/mixed"
    kinds = [part.get_content_type() for part in mime.walk()]
    assert kinds[1:] == ["multipart/alternative", "text/plain", "text/html", "text/calendar"]
    invite = next(p for p in mime.walk() if p.get_content_type() == "text/calendar")
    event = icalendar.Calendar.from_ical(invite.get_content()).walk("VEVENT")[0]
    assert event.decoded("DTSTART").tzinfo is not None
    assert "Content-Location" not in confirmation.data.decode()


def use_starttls(site, port: int) -> None:
    """STARTTLS with the login `mailer`, trusting the test's authority in ca.pem."""
    site.use_transport(
        "smtp",
        host="localhost",
        port=port,
        security="starttls",
        username="mailer",
        ca_file="ca.pem",
    )


def test_starttls_with_a_login(site, authority, monkeypatch):
    authority.cert_pem.write_to_path(str(site.root / "ca.pem"))
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-pw")
    sink = SmtpSink()
    with SmtpServer(sink, "starttls", server_tls(authority), ("mailer", "s3cret-pw")) as server:
        use_starttls(site, server.port)
        result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert len(sink.received) == 14
    assert all(m.tls for m in sink.received)
    assert "s3cret-pw" not in result.output


def test_implicit_tls(site, authority):
    authority.cert_pem.write_to_path(str(site.root / "ca.pem"))
    sink = SmtpSink()
    with SmtpServer(sink, "ssl", server_tls(authority)) as server:
        site.use_transport(
            "smtp", host="localhost", port=server.port, security="ssl", ca_file="ca.pem"
        )
        result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert len(sink.received) == 14
    assert all(m.tls for m in sink.received)


def test_a_wrong_password_stops_the_run_and_keeps_the_messages(site, authority, monkeypatch):
    authority.cert_pem.write_to_path(str(site.root / "ca.pem"))
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-pw")
    sink = SmtpSink()
    with SmtpServer(sink, "starttls", server_tls(authority), ("mailer", "right-pw")) as server:
        use_starttls(site, server.port)
        failed = site.mailer("run", "signups")
        monkeypatch.setenv("SMTP_PASSWORD", "right-pw")
        fixed = site.mailer("run", "signups")

    assert failed.exit_code == 1
    assert "refused the login" in failed.output and "SMTP_PASSWORD" in failed.output
    assert "wrong-pw" not in failed.output
    assert fixed.exit_code == 0, fixed.output
    assert len(sink.received) == 14


def test_a_username_without_a_password_is_a_config_error(site, monkeypatch):
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    site.use_transport("smtp", host="127.0.0.1", port=2525, username="mailer")

    result = site.mailer("run", "signups")

    assert result.exit_code == 2
    assert "SMTP_PASSWORD" in result.output


def test_an_unreachable_server_leaves_everything_for_the_next_run(site):
    site.use_transport("smtp", host="127.0.0.1", port=1, security="none", timeout=2)

    result = site.mailer("run", "signups")

    assert result.exit_code == 1
    assert "cannot reach SMTP server 127.0.0.1:1" in result.output
    unsent = json.loads(site.mailer("status", "--json").output)["unsent"]
    assert len(unsent) == 14 and {m["state"] for m in unsent} == {"pending"}


def test_hard_bounce_fails_and_suppresses_soft_bounce_retries(site):
    sink = SmtpSink(
        refuse={
            BOUNCING: "550 5.1.1 mailbox unavailable",
            "priya.raman@example.org": "450 4.2.1 mailbox busy, try again later",
        }
    )
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        first = site.mailer("run", "signups")
        status = site.mailer("status")
        sink.refuse.pop("priya.raman@example.org")
        second = site.mailer("run", "signups", now=NOW + timedelta(minutes=5))

    assert first.exit_code == 0, first.output
    assert "1 failed" in first.output and "1 to retry" in first.output
    assert "failed: confirmation" in status.output
    assert "550 5.1.1 mailbox unavailable" in status.output
    assert "d***@example.org" in status.output and BOUNCING not in status.output
    assert len(sink.to("priya.raman@example.org")) == 1
    assert not sink.to(BOUNCING)
    assert second.exit_code == 0
    notes = {row["Email Address"]: row["Note"] for row in site.rows()}
    assert notes[BOUNCING] == "email failed: 550 5.1.1 mailbox unavailable"
    assert not notes["priya.raman@example.org"]


def test_a_bounced_address_gets_nothing_from_any_job_until_retried(site):
    sink = SmtpSink(refuse={BOUNCING: "550 5.1.1 no such user"})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        site.mailer("run", "signups")
        sink.refuse.clear()
        starts = json.loads(site.mailer("status", "--json").output)["events"][0]["starts_at"]
        day_before = datetime.fromisoformat(starts) - timedelta(hours=23)
        reminders = site.mailer("run", "reminders", now=day_before)
        status = site.mailer("status", now=day_before)
        retry = site.mailer("retry")
        again = site.mailer("run", "reminders", now=day_before)

    assert reminders.exit_code == 0, reminders.output
    assert "11 sent" in reminders.output and "1 failed" in reminders.output
    assert "failed: reminder" in status.output and "bounced before" in status.output
    assert "2 failed messages queued again" in retry.output
    assert again.exit_code == 0
    subjects = sorted(m.mime["Subject"].split(":")[0] for m in sink.to(BOUNCING))
    assert subjects == ["Reminder", "You're confirmed"], "`mailer retry` overrides the bounce"
    site.mailer("run", "signups", now=day_before)
    daniel = next(row for row in site.rows() if row["Email Address"] == BOUNCING)
    assert not daniel["Note"], "the note goes once the email went"


def test_a_bounce_after_an_unsubscribe_is_recorded_and_holds_the_reminders(site):
    site.mailer("unsubscribe", BOUNCING)
    sink = SmtpSink(refuse={BOUNCING: "550 5.1.1 no such user"})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        site.mailer("run", "signups")
        sink.refuse.clear()
        starts = json.loads(site.mailer("status", "--json").output)["events"][0]["starts_at"]
        day_before = datetime.fromisoformat(starts) - timedelta(hours=23)
        reminders = site.mailer("run", "reminders", now=day_before)
        status = site.mailer("status", now=day_before)

    assert reminders.exit_code == 0, reminders.output
    assert "11 sent" in reminders.output and "1 failed" in reminders.output
    assert "failed: reminder" in status.output and "bounced before" in status.output
    assert not sink.to(BOUNCING), "the dead address got nothing after its bounce"
    with open_ledger(site.settings().ledger.path) as ledger:
        assert set(ledger.suppressed("bounce")) == set(ledger.suppressed("unsubscribe"))
        assert set(ledger.suppressed("bounce")) == {BOUNCING}


def test_a_421_after_data_pauses_and_the_next_run_after_the_pause_sends_the_rest(site):
    sink = SmtpSink(close_after_data={"samira.haddad@example.org"})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        first = site.mailer("run", "signups")
        received_first = len(sink.received)
        too_soon = site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
        received_while_paused = len(sink.received)
        status = site.mailer("status", now=NOW + timedelta(minutes=5))
        later = site.mailer("run", "signups", now=NOW + timedelta(minutes=20))

    assert first.exit_code == 0, first.output
    assert "waiting" in first.output and "failed" not in first.output
    assert received_first < 14
    assert too_soon.exit_code == 0 and received_while_paused == received_first
    assert "paused until" in status.output and "421 4.7.0" in status.output
    assert later.exit_code == 0
    assert sorted(sink.counts().values()) == [1] * 14, "everyone once, nobody twice"


def test_a_password_is_never_sent_unencrypted_to_another_machine(site, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-pw")
    site.use_transport("smtp", host="smtp.example.org", security="none", username="mailer")

    result = site.mailer("run", "signups")

    assert result.exit_code == 2
    assert '[transport.smtp] security: "none" would send the password unencrypted' in result.output


def test_with_holds_one_connection_and_closes_only_what_it_opened():
    with SmtpServer(SmtpSink()) as server:
        transport = SmtpTransport(SmtpSettings("127.0.0.1", server.port, security="none"))
        with transport, transport:  # nested: the inner one finds it open
            assert transport.connections == 1
        transport.open()  # the caller's own connection
        with transport:
            pass
        with transport:  # still open: the block above left it alone
            assert transport.connections == 2
        transport.close()


@pytest.mark.parametrize(
    "data",
    [b"Subject: a\r\n\r\nno dot here\r\n", b".starts\r\n.\r\nmid\r\n..two\r\nend.\r\n"],
    ids=["without dots", "lines starting with dots"],
)
def test_the_message_arrives_as_it_was_whatever_its_lines_start_with(data):
    sink = SmtpSink()
    with SmtpServer(sink) as server, smtplib.SMTP("127.0.0.1", server.port) as smtp:
        transmit(smtp, "sessions@example.org", "zoe@example.org", data)

    assert [m.data for m in sink.received] == [data]


@pytest.mark.parametrize(
    "address",
    [
        "zoe@example.org",
        "Samira.Haddad+sessions@mail.example.co.uk",
        "o'brien_{x}~y@example-org.example",
        "a..b@example.org",
        '"two words"@example.org',
        "zoë@example.org",
        "x@[192.0.2.1]",
    ],
)
def test_envelope_addresses_are_written_as_smtplib_writes_them(address):
    assert envelope_address(address) == smtplib.quoteaddr(address)
