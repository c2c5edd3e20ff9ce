"""`mailer serve` holds up: capped bodies, protective headers everywhere, no cross-site forms."""

from __future__ import annotations

import pytest
from conftest import NOW
from test_unsubscribe import path_of, suppressed, unsubscribe_link, with_public_url

from mailer.core.tokens import load_secret
from mailer.web.app import FORM_LIMIT, create_app

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
