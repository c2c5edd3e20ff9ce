"""An unsubscribe answered by `mailer serve` while a digest is going out is honoured at once.

The send loop looks the address up right before each message goes, in the
same transaction that marks it as being sent, so whatever `mailer serve`
wrote before that moment stops it.
"""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter

import pytest
import waitress
from conftest import NOW
from mail_servers import Received, SmtpServer, SmtpSink
from test_sendgrid import shared_body

from mailer.core.tokens import unsubscribe_token
from mailer.ledger import Ledger, open_ledger
from mailer.mail.message import Draft
from mailer.sending.delivery import deliver
from mailer.sending.transports.smtp import SmtpTransport
from mailer.settings.config import SmtpSettings
from mailer.web.app import create_app

SECRET = "test-secret-for-unsubscribe-links"


def reader(i: int) -> str:
    return f"reader{i:04d}@example.org"


def digest_to_everyone(ledger: Ledger, readers: int) -> None:
    body = shared_body()
    drafts = (
        Draft(
            key=f"digest:weekly:2026-11-23:{reader(i)}",
            kind="digest",
            event_id="",
            to_email=reader(i),
            to_name=f"Reader {i}",
            created_at=NOW,
            body=body,
            person={"name": f"Reader {i}", "first_name": "Reader"},
        )
        for i in range(readers)
    )
    ledger.record_digest("weekly", "2026-11-23", [], drafts, NOW)


@pytest.fixture
def serve(tmp_path):
    """`mailer serve` on a loopback port, writing the same ledger; yields its URL."""
    app = create_app(tmp_path / "mailer.db", SECRET, "Care", clock=lambda: NOW)
    server = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=2, asyncore_loop_timeout=0.05
    )
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def one_click(url: str, address: str) -> int:
    """What a mail provider does when a reader presses "Unsubscribe" (RFC 8058)."""
    request = urllib.request.Request(
        f"{url}/unsubscribe/{unsubscribe_token(SECRET, address)}",
        data=b"List-Unsubscribe=One-Click",
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


@pytest.mark.parametrize(
    "readers", [300, pytest.param(3000, marks=pytest.mark.slow)], ids=lambda n: f"{n}-readers"
)
def test_an_unsubscribe_during_a_digest_stops_everything_not_yet_sent(tmp_path, serve, readers):
    ledger = open_ledger(tmp_path / "mailer.db")
    digest_to_everyone(ledger, readers)
    third = readers // 3
    leaving = [reader(third), reader(readers * 5 // 6)]  # the very next message, and a later one
    answered: list[int] = []

    def unsubscribe_a_third_of_the_way(message: Received) -> None:
        if message.recipients == [reader(third - 1)]:
            answered.extend(one_click(serve, address) for address in leaving)

    sink = SmtpSink(on_message=unsubscribe_a_third_of_the_way)
    with SmtpServer(sink) as server:
        smtp = SmtpTransport(SmtpSettings("127.0.0.1", server.port, security="none"))
        outcome = deliver(ledger, smtp, NOW)

    assert answered == [200, 200]
    received = sink.counts()
    assert not set(leaving) & set(received), "nothing reaches them after the answer"
    assert len(received) == readers - 2 and set(received.values()) == {1}
    assert outcome == Counter({"sent": readers - 2, "skipped": 2})
    skipped = ledger.messages(("skipped",))
    assert [m.email for m in skipped] == leaving
    assert "unsubscribe" in skipped[0].reason
