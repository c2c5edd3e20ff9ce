"""Unsubscribe pages: one button, one-click POST, and forged links that change nothing."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta

import pytest
import waitress
from conftest import NOW, with_public_url
from test_digest import NEXT_SLOT, add_resources
from test_emails import read_eml

from mailer.core.tokens import address_in, hmac_token, load_secret, unsubscribe_token
from mailer.ledger import open_ledger
from mailer.web.app import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unsubscribe_link(site, address: str) -> str:
    line = next(line for line in site.sent(digests=True) if line["to"] == address)
    header = read_eml(site, line)["List-Unsubscribe"]
    return header[1 : header.index(">")]


def suppressed(site) -> set[str]:
    with open_ledger(site.settings().ledger.path) as ledger:
        return set(ledger.suppressed())


@pytest.fixture
def web(site):
    """The site after its first digest, and a test client for its unsubscribe pages."""
    with_public_url(site, "https://mail.example.org")
    site.mailer("run")
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    app = create_app(settings.ledger.path, secret, settings.organization.name, clock=lambda: NOW)
    return site, app.test_client()


def path_of(link: str) -> str:
    return link.removeprefix("https://mail.example.org")


def test_the_link_shows_one_button_and_no_address(web):
    site, client = web
    page = client.get(path_of(unsubscribe_link(site, "priya.raman@example.org")))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<form method="post"><button type="submit">Unsubscribe</button></form>' in html
    assert "p***@example.org" in html and "priya.raman" not in html
    assert "<script" not in html
    assert suppressed(site) == set()


def test_pressing_the_button_unsubscribes(web):
    site, client = web

    page = client.post(path_of(unsubscribe_link(site, "priya.raman@example.org")))

    assert page.status_code == 200
    assert "You are unsubscribed" in page.get_data(as_text=True)
    assert suppressed(site) == {"priya.raman@example.org"}


def test_one_click_post_unsubscribes(web):
    site, client = web

    answer = client.post(
        path_of(unsubscribe_link(site, "daniel.reyes@example.org")),
        data={"List-Unsubscribe": "One-Click"},
    )

    assert answer.status_code == 200
    assert suppressed(site) == {"daniel.reyes@example.org"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: unsubscribe_token("a different secret entirely", "priya.raman@example.org"),
        lambda token: "",
    ],
    ids=["altered", "forged", "empty"],
)
def test_a_tampered_token_is_refused_and_changes_nothing(web, tamper):
    site, client = web
    token = unsubscribe_link(site, "priya.raman@example.org").rsplit("/", 1)[1]

    shown = client.get(f"/unsubscribe/{tamper(token)}")
    posted = client.post(f"/unsubscribe/{tamper(token)}", data={"List-Unsubscribe": "One-Click"})

    assert shown.status_code == posted.status_code == 404
    assert "This link is not valid" in posted.get_data(as_text=True)
    assert suppressed(site) == set()


@pytest.fixture
def served(site):
    """`mailer serve`'s app on a loopback port, with the site's public_url pointing at it."""
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    app = create_app(settings.ledger.path, secret, settings.organization.name, clock=lambda: NOW)
    server = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=2, asyncore_loop_timeout=0.05
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with_public_url(site, f"http://127.0.0.1:{server.effective_port}")
    yield site
    server.close()
    thread.join(timeout=5)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (make test installs it)")
def test_unsubscribing_in_a_real_browser_stops_the_next_digest(served):
    from playwright.sync_api import sync_playwright

    site = served
    site.mailer("run")
    link = unsubscribe_link(site, "priya.raman@example.org")

    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh, empty profile of its own.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(link)
        assert page.title() == "Unsubscribe from the digest?"
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        heading = page.locator("h1").inner_text()
        browser.close()

    add_resources(site, "Rest as resistance")
    site.mailer("run", now=NEXT_SLOT)

    assert heading == "You are unsubscribed"
    second = {line["to"] for line in site.sent(digests=True) if "2026-11-30" in line["key"]}
    assert "priya.raman@example.org" not in second and len(second) == 6


@pytest.fixture
def kept_secret(monkeypatch) -> str:
    """MAILER_SECRET set, as in production: it outlives the state folder."""
    monkeypatch.setenv("MAILER_SECRET", "a-secret-kept-apart-from-the-ledger")
    return "a-secret-kept-apart-from-the-ledger"


def serve(site, secret: str):
    settings = site.settings()
    app = create_app(settings.ledger.path, secret, settings.organization.name, clock=lambda: NOW)
    return app.test_client()


def lose_the_ledger(site) -> None:
    shutil.rmtree(site.root / "state")


def test_a_digest_link_still_works_after_the_ledger_is_lost_and_rebuilt(site, kept_secret):
    with_public_url(site, "https://mail.example.org")
    site.mailer("run")
    link = path_of(unsubscribe_link(site, "priya.raman@example.org"))
    lose_the_ledger(site)

    client = serve(site, kept_secret)
    shown = client.get(link)
    answered = client.post(link, data={"List-Unsubscribe": "One-Click"})
    add_resources(site, "Rest as resistance")
    site.mailer("run", now=NEXT_SLOT)

    assert shown.status_code == 200 and "p***@example.org" in shown.get_data(as_text=True)
    assert answered.status_code == 200
    assert suppressed(site) == {"priya.raman@example.org"}
    second = {line["to"] for line in site.sent(digests=True) if "2026-11-30" in line["key"]}
    assert "priya.raman@example.org" not in second and second
    rows = {row["email"]: row["unsubscribed_on"] for row in site.rows("subscribers")}
    assert rows["priya.raman@example.org"] == "2026-11-24"


def test_a_link_of_the_older_format_works_again_once_the_ledger_is_rebuilt(site, kept_secret):
    older = f"/unsubscribe/{hmac_token(kept_secret, 'daniel.reyes@example.org')}"
    site.mailer("run")
    lose_the_ledger(site)
    refused_before_any_run = serve(site, kept_secret).get(older).status_code

    site.mailer("run")
    answered = serve(site, kept_secret).post(older, data={"List-Unsubscribe": "One-Click"})

    assert refused_before_any_run == 404, "its address is read back from the sheet by a run"
    assert answered.status_code == 200
    assert suppressed(site) == {"daniel.reyes@example.org"}


def test_a_form_opt_in_who_leaves_by_the_link_gets_a_subscribers_row_from_the_next_digest_pass(
    web,
):
    site, client = web
    listed = {row["email"] for row in site.rows("subscribers")}
    asks = "Send me the resource digest"
    address = next(
        row["Email Address"]
        for row in site.rows()
        if row[asks] == "Yes" and row["Email Address"] not in listed
    )
    client.post(path_of(unsubscribe_link(site, address)), data={"List-Unsubscribe": "One-Click"})

    site.mailer("run", "digest", now=NOW + timedelta(minutes=5))
    rows = site.rows("subscribers")
    site.mailer("run", "digest", now=NOW + timedelta(minutes=10))

    assert [row["unsubscribed_on"] for row in rows if row["email"] == address] == ["2026-11-24"]
    assert site.rows("subscribers") == rows, "written once: the next pass finds it listed"


def test_a_site_without_readers_answers_an_older_link_once_its_holder_asks_again(site, kept_secret):
    """Nobody on the sheet reads the digest: no older link is kept, run after run.

    The Subscribers tab is gone and every signup says no; a row that says yes
    (as typed, spaces and case and all) makes the next run keep that reader's
    older link again.
    """
    older = f"/unsubscribe/{hmac_token(kept_secret, 'daniel.reyes@example.org')}"
    (site.root / "lists" / "subscribers.csv").unlink()
    asks = "Send me the resource digest"
    signups = [{**row, asks: "No"} for row in site.rows("signups")]
    site.write_rows("signups", signups)
    site.mailer("run")
    site.mailer("run", now=NOW + timedelta(minutes=5))
    refused_without_readers = serve(site, kept_secret).get(older).status_code

    daniel = next(row for row in signups if row["Email Address"] == "daniel.reyes@example.org")
    daniel[asks] = " YES "
    site.write_rows("signups", signups)
    site.mailer("run", now=NOW + timedelta(minutes=10))
    answered = serve(site, kept_secret).post(older, data={"List-Unsubscribe": "One-Click"})

    assert refused_without_readers == 404
    assert answered.status_code == 200
    assert suppressed(site) == {"daniel.reyes@example.org"}


def test_a_link_signed_with_a_lost_local_secret_is_refused_and_changes_nothing(site):
    """Without MAILER_SECRET the outbox keeps its secret in state/: lost with it."""
    with_public_url(site, "https://mail.example.org")
    site.mailer("run")
    link = path_of(unsubscribe_link(site, "priya.raman@example.org"))
    lose_the_ledger(site)
    site.mailer("run")

    settings = site.settings()
    answer = serve(site, load_secret(settings.ledger.path.parent, may_generate=True)).get(link)

    assert answer.status_code == 404
    assert suppressed(site) == set()


def test_the_token_carries_the_address_sealed_not_written():
    token = unsubscribe_token("a-secret-kept-apart-from-the-ledger", "priya.raman@example.org")

    assert "priya" not in token and "example" not in token
    assert address_in("a-secret-kept-apart-from-the-ledger", token) == "priya.raman@example.org"
    assert address_in("another-secret-of-enough-length", token) is None
    assert token == unsubscribe_token(
        "a-secret-kept-apart-from-the-ledger", "priya.raman@example.org"
    ), "one address, one token"
