"""What mailer keeps and for how long; how a person is exported and forgotten.

Through the real CLI on the sample site: the sample session is Wednesday
2026-12-02 12:00 America/Chicago (18:00 UTC), 12 seats, 14 people answering.
Each test runs with the ledger in `state/mailer.db` and again on a real
PostgreSQL (that half with `make test-all`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import NOW, SiteDir, with_public_url

from mailer.ledger import open_ledger
from mailer.ledger.store import SqlLedger
from mailer.ledger.tables import TABLES

START = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
LATER = START + timedelta(days=200)
MAYA = "maya.okafor@example.org"  # confirmed, a Subscribers reader, answered twice


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def site(request: pytest.FixtureRequest, site: SiteDir, monkeypatch: pytest.MonkeyPatch) -> SiteDir:
    """The sample site, its ledger in state/mailer.db or on PostgreSQL (MAILER_LEDGER_URL)."""
    if request.param == "postgresql":
        monkeypatch.setenv("MAILER_LEDGER_URL", request.getfixturevalue("postgres").database())
    return site


def addresses(site: SiteDir) -> set[str]:
    """Every well-formed address on the Signups tab, as typed and normalized."""
    typed = {row["Email Address"] for row in site.rows() if "@@" not in row["Email Address"]}
    return typed | {a.casefold() for a in typed}


def ledger_bytes(site: SiteDir) -> bytes:
    """The ledger file with its write-ahead log and shared memory, free pages and all.

    On PostgreSQL every row of every table: what the server keeps beyond its
    rows (space not yet reused, its WAL, backups) is the operator's to manage.
    """
    settings = site.settings()
    if settings.ledger.on_sqlite:
        state = site.root / "state"
        return b"".join(p.read_bytes() for p in sorted(state.glob("mailer.db*")))
    with open_ledger(settings) as ledger:
        assert isinstance(ledger, SqlLedger)
        with ledger.reading() as db:
            return repr([db.rows(f"SELECT * FROM {table.name}") for table in TABLES]).encode()


def outbox_bytes(site: SiteDir) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(site.outbox.rglob("*")) if p.is_file())


def found_in(data: bytes, wanted: set[str]) -> set[str]:
    lowered = data.lower()
    return {a for a in wanted if a.lower().encode() in lowered}


def through_the_session(site: SiteDir) -> None:
    """Signups decided and confirmed, both reminders sent, the session held."""
    assert site.mailer("run").exit_code == 0
    for hours in (23, 0.5):
        assert site.mailer("run", now=START - timedelta(hours=hours)).exit_code == 0
    assert site.mailer("run", now=START + timedelta(hours=2)).exit_code == 0


def test_a_session_long_past_leaves_only_counts_and_keyed_hashes(site):
    through_the_session(site)
    people = addresses(site)
    assert found_in(ledger_bytes(site), people) == people

    result = site.mailer("run", now=LATER)

    assert result.exit_code == 0, result.output
    assert "Retention: removed" in result.output
    assert "the people of 1 past session (ccs-2026-12-02: 14 seats)" in result.output
    assert found_in(ledger_bytes(site), people) == set()
    assert found_in(outbox_bytes(site), people) == set()
    status = site.mailer("status", now=LATER)
    assert status.exit_code == 0


def test_after_retention_nothing_is_sent_again_and_no_one_is_reconfirmed(site):
    through_the_session(site)
    site.mailer("run", now=LATER)
    sheet = site.rows()
    files = site.files()

    for moment in (LATER + timedelta(minutes=5), LATER + timedelta(days=8)):
        result = site.mailer("run", now=moment)
        assert result.exit_code == 0, result.output
        assert "0 new" in result.output

    assert site.rows() == sheet  # Status, Position and Notified stand as they were
    assert site.sent() == [] and site.sent(digests=True) == []
    assert "outbox/index.jsonl" not in files or site.files()["outbox/index.jsonl"] == b""


def test_an_answer_named_by_a_retired_binding_is_not_bound_to_a_new_session(site):
    """An old answer whose session row is gone names a new session's title: left alone."""
    through_the_session(site)
    site.mailer("run", now=LATER)
    events = site.rows("events")
    old = dict(events[0])
    new_start = LATER + timedelta(days=7)
    events[0].update(
        id="ccs-next",
        starts_at=f"{new_start:%Y-%m-%d} 12:00",
        ends_at=f"{new_start:%Y-%m-%d} 13:30",
    )
    site.write_rows("events", events)
    rows = site.rows()
    for row in rows:  # the old answers now read as the title alone, with no session id
        row["Which session?"] = old["title"]
        row["Session id"] = ""
    site.write_rows("signups", rows)

    result = site.mailer("run", now=LATER + timedelta(hours=1))

    assert result.exit_code == 0, result.output
    assert "│ ccs-next │ Sun Jun 27 12:00 │ 0/12" in result.output  # no seat taken
    assert site.rows() == rows  # nothing written on the old rows
    assert site.sent() == []


def test_a_dry_run_shows_what_retention_would_remove_and_removes_nothing(site):
    through_the_session(site)
    before = site.files()

    result = site.mailer("run", "--dry-run", "--now", LATER.isoformat(), now=None)

    assert result.exit_code == 0, result.output
    assert "Retention: would remove" in result.output
    assert "the people of 1 past session" in result.output
    assert site.files() == before


def test_message_bodies_go_after_thirty_days_and_the_seats_stay(site):
    through_the_session(site)
    people = addresses(site)

    result = site.mailer("run", now=START + timedelta(days=31))

    assert "Retention: removed" in result.output
    # 12 confirmations, 2 waitlist notices, 2 x 12 reminders and 7 digests
    assert "45 message bodies" in result.output
    assert site.sent() == []  # the outbox keeps no copy older than thirty days
    assert found_in(outbox_bytes(site), people) == set()
    status = json.loads(
        site.mailer("status", "--json", "--all", now=START + timedelta(days=31)).output
    )
    (event,) = status["events"]
    assert sum(seat["status"] == "confirmed" for seat in event["seats"]) == 12


def test_an_outbox_left_as_it_was_loses_each_message_when_it_is_due(site):
    through_the_session(site)
    sent = site.sent()
    for days in (10, 20):  # the second run finds the outbox as the first left it
        result = site.mailer("run", "signups", now=START + timedelta(days=days))
        assert "Retention: nothing to remove" in result.output
    assert site.sent() == sent

    result = site.mailer("run", "signups", now=NOW + timedelta(days=30, hours=1))

    assert "Retention: removed" in result.output
    kept = site.sent()
    assert kept and {m["kind"] for m in kept} <= {"reminder", "digest"}
    assert {m["kind"] for m in sent} - {m["kind"] for m in kept} >= {"confirmation"}


def test_a_session_retired_leaves_the_outbox_though_its_bodies_may_stay(site):
    text = site.config.read_text().replace('keep_bodies = "30 days"', 'keep_bodies = "400 days"')
    site.config.write_text(text)
    through_the_session(site)
    site.mailer("run", "signups", now=START + timedelta(days=10))  # nothing due
    people = addresses(site)

    result = site.mailer("run", "signups", now=LATER)

    assert "the people of 1 past session" in result.output
    assert found_in(outbox_bytes(site), people) == set()


def test_privacy_settings_are_checked_like_every_other(site):
    text = site.config.read_text().replace('keep_bodies = "30 days"', 'keep_bodies = "forever"')
    site.config.write_text(text)

    result = site.mailer("run")

    assert result.exit_code == 2
    assert "[privacy] keep_bodies: 'forever': expected a duration from 1 day" in result.output


def forget(site: SiteDir, email: str, now: datetime) -> str:
    from click.testing import CliRunner

    from mailer.cli.commands import cli

    args = ["--config", str(site.config), "forget", email, "--now", now.isoformat()]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def export(site: SiteDir, email: str) -> dict:
    from click.testing import CliRunner

    from mailer.cli.commands import cli

    result = CliRunner().invoke(cli, ["--config", str(site.config), "export", email])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_export_lists_every_message_a_person_was_sent(site):
    site.mailer("run")
    site.mailer("run", now=START - timedelta(hours=23))

    held = export(site, "Maya.Okafor@example.org")

    sent_to_maya = {
        line["key"]
        for line in site.sent() + site.sent(digests=True)
        if line["to"].casefold() == MAYA
    }
    assert {m["key"] for m in held["messages"]} == sent_to_maya
    assert {m["kind"] for m in held["messages"]} == {"confirmation", "digest", "reminder"}
    assert all(m["subject"] and m["sent_at"] for m in held["messages"])
    assert [s["status"] for s in held["seats"]] == ["confirmed"]
    assert len(held["digests"]) == 1
    assert {(r["tab"], r["row"]) for r in held["sheet_rows"]} == {
        ("signups", 2),
        ("signups", 7),
        ("subscribers", 2),
    }


def test_forget_removes_a_confirmed_person_and_every_job_skips_them(site):
    site.mailer("run")
    site.mailer("run", now=START - timedelta(hours=23))

    said = forget(site, MAYA, START - timedelta(hours=22))

    assert "signups row 2" in said and "signups row 7" in said and "subscribers row 2" in said
    assert MAYA not in said
    assert found_in(ledger_bytes(site), {MAYA}) == set()
    assert found_in(outbox_bytes(site), {MAYA}) == set()
    row = site.rows()[0]
    assert row["Email Address"] == MAYA  # the answer is the organizers' to delete
    assert [row[c] for c in ("Status", "Position", "Notified", "Note")] == ["", "", "", ""]

    site.mailer("run", now=START - timedelta(hours=1))  # reminders, and a digest slot
    site.mailer("run", now=START + timedelta(days=5, hours=15))  # the next Monday's digest

    assert all(line["to"].casefold() != MAYA for line in site.sent() + site.sent(digests=True))
    assert site.rows()[0]["Status"] == ""  # no job writes to her rows again
    mailer_tab = (site.root / "lists" / "Mailer.csv").read_text()
    assert mailer_tab.count("asked mailer to forget them") == 3
    assert MAYA not in mailer_tab
    assert found_in(ledger_bytes(site), {MAYA}) == set()


def test_forget_frees_the_seat_for_the_waitlist(site):
    site.mailer("run")

    forget(site, MAYA, START - timedelta(days=2))
    result = site.mailer("run", now=START - timedelta(days=2, minutes=-5))

    assert "1 promotion" in result.output
    assert sum(row["Status"] == "confirmed" for row in site.rows()) == 12


def test_a_forgotten_person_who_answers_again_is_a_new_signup(site):
    site.mailer("run")
    forget(site, MAYA, START - timedelta(days=3))
    rows = site.rows()
    again = dict(rows[0], Timestamp="11/30/2026 10:00:00")
    for column in ("Status", "Position", "Notified", "Note", "Session id"):
        if column in again:
            again[column] = ""
    site.write_rows("signups", [*rows, again])

    site.mailer("run", now=START - timedelta(days=1, hours=20))

    latest = site.rows()[-1]
    assert latest["Status"] == "waitlisted"  # her old seat went to the waitlist meanwhile
    assert any(line["to"] == MAYA and line["kind"] == "waitlist" for line in site.sent())
    assert site.rows()[0]["Status"] == ""


def test_forget_refuses_what_is_not_an_address(site: SiteDir, tmp_path: Path):
    from click.testing import CliRunner

    from mailer.cli.commands import cli

    result = CliRunner().invoke(cli, ["--config", str(site.config), "forget", "not-an-address"])

    assert result.exit_code == 2
    assert "is not an email address" in result.output


def test_the_daemon_removes_what_has_aged_after_its_jobs(site):
    from mailer.jobs.daemon import Daemon
    from mailer.settings import config

    through_the_session(site)
    settings = site.settings()
    jobs = [job for job in config.load_jobs(settings) if job.kind == "signups"]

    Daemon(settings, jobs, clock=lambda: LATER).tick(jobs[0])

    assert found_in(ledger_bytes(site), addresses(site)) == set()
    assert found_in(outbox_bytes(site), addresses(site)) == set()


def test_the_forget_me_link_in_a_digest_asks_once_and_the_next_run_forgets(site):
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    from mailer.core.tokens import load_secret
    from mailer.web.app import create_app

    with_public_url(site, "https://mail.example.org")
    site.mailer("run")
    digest = next(line for line in site.sent(digests=True) if line["to"] == MAYA)
    text = message_from_bytes((site.outbox / digest["file"]).read_bytes(), policy=policy.default)
    assert isinstance(text, EmailMessage)
    plain = text.get_body(("plain",))
    assert isinstance(plain, EmailMessage)
    link = next(
        word
        for word in plain.get_content().split()
        if word.startswith("https://mail.example.org/forget/")
    )
    settings = site.settings()
    secret = load_secret(settings.ledger.state_folder, may_generate=True)
    app = create_app(settings.ledger.url, secret, settings.organization.name, clock=lambda: NOW)
    client = app.test_client()
    path = link.removeprefix("https://mail.example.org")

    shown = client.get(path)
    assert shown.status_code == 200 and "Forget me" in shown.text and MAYA not in shown.text
    assert client.get(path[:-2] + "xx").status_code == 404
    assert client.post(path).status_code == 200
    assert found_in(ledger_bytes(site), {MAYA}) == {MAYA}  # nothing is done before the run

    result = site.mailer("run", now=NOW + timedelta(minutes=5))

    assert "forgot 1 person who asked" in result.output
    assert found_in(ledger_bytes(site), {MAYA}) == set()
    assert found_in(outbox_bytes(site), {MAYA}) == set()
    assert site.rows()[0]["Status"] == ""


def test_a_bounce_is_exported_and_forgotten_with_its_person(site):
    from mailer.ledger.records import BounceRow

    site.mailer("run")
    key = next(line["key"] for line in site.sent() if line["to"] == MAYA)
    with open_ledger(site.settings()) as ledger:
        bounce = BounceRow(MAYA, "soft", "4.2.2", "mailbox full", key, NOW.isoformat())
        ledger.record_bounce("report-1", bounce)

    held = export(site, MAYA)
    forget(site, MAYA, NOW + timedelta(minutes=1))

    assert [(b["message"], b["kind"], b["status"]) for b in held["bounces"]] == [
        (key, "soft", "4.2.2")
    ]
    assert export(site, MAYA)["bounces"] == []
    assert export(site, MAYA)["forgotten_at"] == (NOW + timedelta(minutes=1)).isoformat()
    assert found_in(ledger_bytes(site), {MAYA}) == set()


def test_a_migrated_ledger_still_knows_who_asked_to_be_forgotten(site):
    from mailer.core.tokens import load_secret
    from mailer.ledger.privacy import Privacy

    site.mailer("run")
    forget(site, MAYA, NOW + timedelta(minutes=1))
    moved = site.root / "state" / "moved.db"

    result = site.mailer("migrate", "--to", f"sqlite:///{moved}")

    assert result.exit_code == 0, result.output
    secret = load_secret(site.settings().ledger.state_folder, may_generate=True)
    with open_ledger(moved) as ledger:
        privacy = Privacy(ledger, lambda: secret)
        assert privacy.forgotten_at(MAYA) == NOW + timedelta(minutes=1)
        assert privacy.forgotten_at("ann@example.org") is None
