"""`mailer serve` holds up: capped bodies, protective headers everywhere, no cross-site forms.

The same rules on every route: the unsubscribe pages, the seat pages and the webhook.
"""

from __future__ import annotations

import http.client
import sqlite3
import threading
from contextlib import closing
from urllib.parse import urlsplit

import pytest
from conftest import NOW, with_public_url
from test_self_service import DANIEL, link_in
from test_unsubscribe import path_of, suppressed, unsubscribe_link

from mailer.core.tokens import load_secret
from mailer.ledger import open_ledger
from mailer.ledger.sqlite import SqliteBackend
from mailer.ledger.sqlite_ledger import SqliteLedger
from mailer.web.app import FORM_LIMIT, create_app
from mailer.web.server import create_server

PUBLIC = "https://mail.example.org"
READER = "priya.raman@example.org"


@pytest.fixture
def web(site):
    """The site after its first digest; `mailer serve`'s app as seen behind its proxy."""
    with_public_url(site, PUBLIC)
    site.mailer("run")
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    app = create_app(settings.ledger.path, secret, "Care", clock=lambda: NOW, public_url=PUBLIC)
    return site, app.test_client()


def protective(headers) -> bool:
    return (
        "frame-ancestors 'none'" in headers.get("Content-Security-Policy", "")
        and headers.get("X-Content-Type-Options") == "nosniff"
        and headers.get("Referrer-Policy") == "no-referrer"
    )


def test_every_answer_carries_the_protective_headers_errors_included(web):
    site, client = web
    path = path_of(unsubscribe_link(site, READER))
    answers = {
        "page": client.get(path),
        "not found": client.get("/no/such/page"),
        "wrong method": client.delete(path),
        "too large": client.post(path, data={"x": "y" * (FORM_LIMIT + 1)}),
        "unsigned webhook": client.post("/sendgrid/events", data=b"[]"),
        "one-click": client.post(path, data={"List-Unsubscribe": "One-Click"}),
    }

    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "page": 200,
        "not found": 404,
        "wrong method": 405,
        "too large": 413,
        "unsigned webhook": 403,
        "one-click": 200,
    }
    assert [name for name, answer in answers.items() if not protective(answer.headers)] == []


def test_a_form_larger_than_a_few_kb_is_refused_and_changes_nothing(web):
    site, client = web

    answer = client.post(
        path_of(unsubscribe_link(site, READER)), data={"comment": "x" * (64 * 1024)}
    )

    assert answer.status_code == 413
    assert suppressed(site) == set()


def test_the_webhook_takes_a_5_mb_batch_but_not_more_than_its_cap(web):
    _, client = web
    five_mb = b"[" + b'{"event":"delivered","email":"a@example.org"},' * 110_000 + b"{}]"
    huge = five_mb * 2

    assert len(five_mb) > 5_000_000
    assert client.post("/sendgrid/events", data=five_mb).status_code == 403  # unsigned
    assert client.post("/sendgrid/events", data=huge).status_code == 413


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}],
    ids=["foreign origin", "cross-site fetch"],
)
def test_the_unsubscribe_form_refuses_a_post_from_another_site(web, headers):
    site, client = web

    answer = client.post(path_of(unsubscribe_link(site, READER)), headers=headers)

    assert answer.status_code == 403
    assert suppressed(site) == set()


@pytest.mark.parametrize(
    "headers",
    [{"Origin": PUBLIC}, {"Sec-Fetch-Site": "same-origin", "Origin": "null"}, {}],
    ids=["our origin", "same-origin fetch", "no origin"],
)
def test_the_unsubscribe_form_works_from_our_own_page(web, headers):
    site, client = web

    answer = client.post(path_of(unsubscribe_link(site, READER)), headers=headers)

    assert answer.status_code == 200
    assert suppressed(site) == {READER}


def test_a_one_click_post_from_a_mail_provider_still_works(web):
    site, client = web

    answer = client.post(
        path_of(unsubscribe_link(site, READER)), data={"List-Unsubscribe": "One-Click"}
    )

    assert answer.status_code == 200
    assert suppressed(site) == {READER}


def seat_requests(site) -> list:
    with open_ledger(site.settings().ledger.path) as ledger:
        return ledger.open_requests()


@pytest.fixture
def seat_path(web) -> str:
    """The path of Daniel's release link (his confirmation email has it)."""
    site, _ = web
    return urlsplit(link_in(site, "confirmation", DANIEL)).path


def test_the_seat_form_refuses_a_2_mb_body_and_changes_nothing(web, seat_path):
    site, client = web

    answer = client.post(seat_path, data=b"x" * 2_000_000)

    assert answer.status_code == 413
    assert "Nothing was changed" in answer.get_data(as_text=True)
    assert seat_requests(site) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://www.mail.example.org"},
    ],
    ids=["cross-site fetch", "foreign origin", "sibling subdomain"],
)
def test_the_seat_form_refuses_a_post_from_another_site(web, seat_path, headers):
    site, client = web

    answer = client.post(seat_path, headers=headers)

    assert answer.status_code == 403
    assert seat_requests(site) == []


def test_the_seat_form_works_from_our_own_page(web, seat_path):
    site, client = web

    answer = client.post(seat_path, headers={"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"})

    assert answer.status_code == 200
    assert [r.email for r in seat_requests(site)] == [DANIEL]


def test_a_failure_inside_is_a_page_without_a_traceback(web, seat_path):
    site, client = web
    site.settings().ledger.path.write_bytes(b"this is not a ledger any more" * 100)

    answer = client.get(seat_path)

    html = answer.get_data(as_text=True)
    assert answer.status_code == 500
    assert "Something went wrong" in html and "Traceback" not in html and "sqlite" not in html
    assert protective(answer.headers)


def test_a_made_up_seat_token_is_found_by_index_not_by_a_scan(web):
    site, _ = web
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    statements: list[str] = []  # as run, their parameters filled in

    def seen(statement: str) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    with open_ledger(settings.ledger.path) as ledger:
        assert isinstance(ledger, SqliteLedger)
        backend = ledger.store.backend  # the seat links are looked up by the store
        assert isinstance(backend, SqliteBackend)
        backend.trace(seen)
        found = ledger.seat_for_token(secret, "A" * 32)
        backend.trace(None)
    with closing(sqlite3.connect(settings.ledger.path)) as db:
        plans = [
            detail
            for statement in statements
            for *_, detail in db.execute(f"EXPLAIN QUERY PLAN {statement}")
        ]

    assert found is None
    assert len(statements) == 1
    assert plans and all("USING" in detail and "INDEX" in detail for detail in plans), plans


@pytest.fixture
def served(web):
    """The same app under the server `mailer serve` runs, on a loopback port."""
    site, _ = web
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    app = create_app(settings.ledger.path, secret, "Care", clock=lambda: NOW, sendgrid_key=KEY)
    server = create_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port
    server.close()
    thread.join(timeout=5)


# A P-256 public key, as SendGrid shows it under Mail Settings.
KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62"
    "gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)


@pytest.mark.parametrize(
    "timestamp, signature",
    [
        (b"\xb2", b"c2lnbmVk"),  # a superscript two: a digit to str.isdigit()
        ("\u0663".encode(), b"c2lnbmVk"),  # an Arabic-Indic three
        (b"1764547200", b"\xff\xfe not base64"),
        (b"99999999999999999999999", b"c2lnbmVk"),
        (b"", b""),
    ],
    ids=["0xB2", "arabic digit", "binary signature", "huge", "empty"],
)
def test_the_webhooks_bad_headers_are_refused_without_a_traceback(served, timestamp, signature):
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    connection.putrequest("POST", "/sendgrid/events")
    connection.putheader("X-Twilio-Email-Event-Webhook-Timestamp", timestamp)
    connection.putheader("X-Twilio-Email-Event-Webhook-Signature", signature)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", "2")
    connection.endheaders(b"[]")

    answer = connection.getresponse()
    body = answer.read().decode()
    connection.close()

    assert answer.status == 403
    assert "Traceback" not in body
