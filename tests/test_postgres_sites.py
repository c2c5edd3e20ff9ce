"""The sample site on a real PostgreSQL ledger: the same emails and sheet as on SQLite, a move
from SQLite that sends nothing again, and two `mailer serve` copies sharing one ledger."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, SiteDir, with_public_url
from mail_servers import free_port, wait_for_port
from test_digest import NEXT_SLOT, add_resources
from test_self_service import BEN, DANIEL, link_in, row_of
from test_unsubscribe import unsubscribe_link

from mailer.ledger import open_ledger

pytestmark = pytest.mark.slow
SECRET = "test-secret-for-unsubscribe-links"


def on_postgresql(site: SiteDir, url: str) -> None:
    """Point the site's `[ledger] url` at a PostgreSQL database."""
    text = site.config.read_text()
    site.config.write_text(text.replace('path = "state/mailer.db"', f'url = "{url}"', 1))


def what_went_out(site: SiteDir) -> list[tuple[str, ...]]:
    """Each message delivered (kind, session, address, subject, key), and its plain text."""
    return [
        (line["kind"], line["event"], line["to"], line["subject"], line["key"])
        for line in site.sent() + site.sent(digests=True)
    ]


def sheet(site: SiteDir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((site.root / "lists").glob("*.csv"))}


def story(site: SiteDir) -> None:
    """A week of the sample site: signups, a cancellation, reminders, the next digest."""
    assert site.mailer("run").exit_code == 0
    rows = site.rows()
    rows[0]["Status"] = "cancelled"
    site.write_rows("signups", rows)
    assert site.mailer("run", now=NOW + timedelta(hours=2)).exit_code == 0
    add_resources(site, "Grounding for long days", "Boundaries at work")
    for later in (NEXT_SLOT, NOW + timedelta(days=7, hours=3)):
        assert site.mailer("run", now=later).exit_code == 0


def test_the_sample_site_on_postgresql_sends_and_writes_what_it_does_on_sqlite(
    site, postgres, tmp_path, monkeypatch
):
    monkeypatch.setenv("MAILER_SECRET", SECRET)
    twin = SiteDir(tmp_path / "on-postgresql")
    shutil.copytree(site.root, twin.root)
    on_postgresql(twin, postgres.database())

    story(site)
    story(twin)

    assert not (twin.root / "state" / "mailer.db").exists(), "its ledger is on PostgreSQL"
    assert what_went_out(twin) == what_went_out(site)
    assert len(what_went_out(site)) > 30
    assert sheet(twin) == sheet(site)
    assert twin.mailer("status").output == site.mailer("status").output


def test_a_site_moved_from_sqlite_to_postgresql_sends_nothing_again(site, postgres, monkeypatch):
    monkeypatch.setenv("MAILER_SECRET", SECRET)
    site.mailer("run")
    before = site.mailer("status").output
    sent = what_went_out(site)
    url = postgres.database()

    moved = site.mailer("migrate", "--from", "sqlite:///state/mailer.db", "--to", url)
    on_postgresql(site, url)
    again = site.mailer("run", now=NOW + timedelta(minutes=5))

    assert moved.exit_code == 0, moved.output
    assert "Copied 21 messages, 14 seats" in moved.output
    assert again.exit_code == 0, again.output
    assert what_went_out(site) == sent, "nothing is sent again"
    assert site.mailer("status").output == before
    refused = site.mailer("migrate", "--to", url)
    assert refused.exit_code != 0 and "migrate into an empty ledger" in refused.output


def test_a_ledger_that_forgot_someone_moves_to_postgresql_and_forgets_there_too(
    site, postgres, monkeypatch
):
    monkeypatch.setenv("MAILER_SECRET", SECRET)
    site.mailer("run")
    assert site.mailer("forget", DANIEL, now=None).exit_code == 0
    url = postgres.database()

    moved = site.mailer("migrate", "--to", url)
    on_postgresql(site, url)
    held = json.loads(site.mailer("export", DANIEL).output)
    forgot = site.mailer("forget", BEN, now=None)
    again = site.mailer("run", now=NOW + timedelta(minutes=5))

    assert moved.exit_code == 0, moved.output
    assert held["forgotten_at"] is not None and held["seats"] == []
    assert forgot.exit_code == 0 and "Forgot b" in forgot.output
    assert again.exit_code == 0, again.output
    sent = site.sent() + site.sent(digests=True)
    assert sent and all(line["to"] not in (DANIEL, BEN) for line in sent)
    assert "asked mailer to forget them" in (site.root / "lists" / "Mailer.csv").read_text()


def post(url: str, fields: dict[str, str] | None = None) -> int:
    data = urllib.parse.urlencode(fields or {}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as answer:
        return answer.status


def test_two_serve_copies_on_one_ledger_are_both_honoured_by_the_next_run(
    pg_site, tmp_path: Path, monkeypatch
):
    site = pg_site
    monkeypatch.setenv("MAILER_SECRET", SECRET)
    ports = [free_port(), free_port()]
    with_public_url(site, f"http://127.0.0.1:{ports[0]}")
    site.mailer("run")
    leaving = next(line["to"] for line in site.sent(digests=True))
    one_click = urllib.parse.urlsplit(unsubscribe_link(site, leaving)).path
    release = urllib.parse.urlsplit(link_in(site, "confirmation", DANIEL)).path
    servers = [
        subprocess.Popen(
            site.command("serve", "--port", str(port)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_for_port(port, seconds=60)
        unsubscribed = post(
            f"http://127.0.0.1:{ports[0]}{one_click}", {"List-Unsubscribe": "One-Click"}
        )
        released = post(f"http://127.0.0.1:{ports[1]}{release}")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)

    add_resources(site, "Grounding for long days")
    site.mailer("run", now=NOW + timedelta(minutes=5))
    site.mailer("run", now=NEXT_SLOT)

    assert (unsubscribed, released) == (200, 200)
    assert row_of(site, "Daniel Reyes")["Status"] == "cancelled"
    assert [x["kind"] for x in site.sent() if x["to"] == DANIEL][-1] == "released"
    digests = [x["to"] for x in site.sent(digests=True)]
    assert digests.count(leaving) == 1, "the next digest does not reach who left"
    assert len(set(digests)) > 1
    with open_ledger(site.settings()) as ledger:
        assert leaving in ledger.suppressed()
