"""Unsubscribe pages: one button, one-click POST, and forged links that change nothing."""

from __future__ import annotations

import shutil
import threading

import pytest
import waitress
from conftest import NOW
from test_digest import NEXT_SLOT, add_resources
from test_emails import read_eml

from mailer.core.tokens import load_secret, unsubscribe_token
from mailer.ledger.sqlite import Ledger
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


def with_public_url(site, url: str) -> None:
    site.config.write_text(
        site.config.read_text().replace('public_url = ""', f'public_url = "{url}"')
    )


def unsubscribe_link(site, address: str) -> str:
    line = next(line for line in site.sent(digests=True) if line["to"] == address)
    header = read_eml(site, line)["List-Unsubscribe"]
    return header[1 : header.index(">")]


def suppressed(site) -> set[str]:
    with Ledger(site.settings().ledger.path) as ledger:
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
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
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
