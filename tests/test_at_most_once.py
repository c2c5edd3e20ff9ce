"""At most one copy: a message whose fate is unknown is never sent again blindly.

A SendGrid that answers after the timeout, or hangs up mid-request, may have
accepted the request; an SMTP line lost after DATA may have delivered the
message; a run killed mid-request leaves its messages in flight. Each is
recorded as unknown, listed by `mailer status`, and settled by SendGrid's
webhook or by the organizer (`mailer retry --unknown`).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta

import pytest
from conftest import NOW
from mail_servers import SendgridStandIn, SmtpServer, SmtpSink
from test_sendgrid import queue, transport
from test_sendgrid_events import client, signed, signer  # noqa: F401 - a fixture

from mailer.ledger import open_ledger
from mailer.sending.delivery import deliver

SLOW = 1  # seconds the stand-in takes to answer
PATIENCE = 0.1  # seconds the transport waits for it: every request times out


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


def unsent(site, *args: str) -> list[dict]:
    """Messages not yet sent, their keys with the whole address in them."""
    return json.loads(site.mailer("status", "--json", "--addresses", *args).output)["unsent"]


def test_a_sendgrid_slower_than_the_timeout_gets_each_message_once(tmp_path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 200)
    with SendgridStandIn(delay=SLOW) as server:
        first = deliver(ledger, transport(server, timeout=PATIENCE), NOW)
        second = deliver(ledger, transport(server, timeout=PATIENCE), NOW + timedelta(days=1))

    assert first == {"unknown": 200}
    assert second == {}, "an unknown digest is never sent again by itself"
    assert len(server.requests) == 1
    assert set(server.copies().values()) == {1}
    assert {m.state for m in ledger.messages()} == {"unknown"}
    assert "may have been accepted" in ledger.messages()[0].reason


def test_a_sendgrid_that_hangs_up_mid_request_leaves_the_request_unknown(tmp_path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 5)
    with SendgridStandIn(hang_up=True) as server:
        outcome = deliver(ledger, transport(server), NOW)
        deliver(ledger, transport(server), NOW + timedelta(hours=1))

    assert outcome == {"unknown": 5}
    assert len(server.requests) == 1 and set(server.copies().values()) == {1}


def test_unknowns_are_listed_and_a_delivered_event_settles_them(site, signer):  # noqa: F811
    private, public_key = signer
    with SendgridStandIn(delay=SLOW) as server:
        site.use_transport("sendgrid", host=server.url, timeout=PATIENCE)
        run = site.mailer("run", "signups")
        requests = len(server.requests)
        site.mailer("run", "signups", now=NOW + timedelta(minutes=10))
        status = site.mailer("status")
        listed = unsent(site)
        events = [
            {"email": p["to"][0]["email"], "event": "delivered", "mailer_key": key}
            for p in server.personalizations
            for key in [p["custom_args"]["mailer_key"]]
        ]
        body = json.dumps(events).encode()
        answer = client(site, public_key).post(
            "/sendgrid/events", data=body, headers=signed(private, body, NOW)
        )
        later = site.mailer("run", "signups", now=NOW + timedelta(hours=2))

    assert run.exit_code == 0, run.output
    assert "14 unknown" in run.output
    assert len(server.requests) == requests, "nothing was sent again ten minutes later"
    assert {m["state"] for m in listed} == {"unknown"} and len(listed) == 14
    assert "unknown: confirmation for ccs-2026-12-02 to " in status.output
    assert "@example.org" in status.output and "***" in status.output
    assert answer.status_code == 204
    assert unsent(site) == [], "the webhook settled every one as sent"
    assert later.exit_code == 0 and len(server.requests) == requests
    assert set(server.copies().values()) == {1}


def test_an_unsettled_confirmation_goes_again_after_an_hour_but_a_digest_never(site):
    with SendgridStandIn(hang_up=True) as server:
        site.use_transport("sendgrid", host=server.url)
        site.mailer("run", "signups")
        site.mailer("run", "digest")
        server.hang_up = False
        site.mailer("run", "signups", now=NOW + timedelta(minutes=30))
        half_hour = sum(server.copies().values())
        site.mailer("run", "signups", now=NOW + timedelta(minutes=61))

    copies = server.copies()
    assert half_hour == 14 + 7, "nothing again within the hour"
    again = {key.split(":")[0] for key, n in copies.items() if n == 2}
    assert sum(n == 2 for n in copies.values()) == 14, "a join link is worth a rare duplicate"
    assert again == {"confirmation", "waitlist"}
    assert {m["key"].split(":")[0] for m in unsent(site)} == {"digest"}


def test_a_provider_that_never_answers_in_time_gets_a_confirmation_twice_at_most(site):
    with SendgridStandIn(hang_up=True) as server:
        site.use_transport("sendgrid", host=server.url)
        for hours in range(5):
            site.mailer("run", "signups", now=NOW + timedelta(hours=hours, minutes=hours))

    assert set(server.copies().values()) == {2}
    assert {m["state"] for m in unsent(site)} == {"unknown"}


def test_nothing_unknown_goes_again_once_its_session_has_started(site):
    with SendgridStandIn(hang_up=True) as server:
        site.use_transport("sendgrid", host=server.url)
        site.mailer("run", "signups")
        starts = json.loads(site.mailer("status", "--json").output)["events"][0]["starts_at"]
        server.hang_up = False
        site.mailer("run", "reminders", now=datetime.fromisoformat(starts) + timedelta(minutes=1))

    assert set(server.copies().values()) == {1}
    assert len(unsent(site)) == 14


def test_the_organizer_lists_and_requeues_unknowns(site):
    sink = SmtpSink(hang_up_after_data={"samira.haddad@example.org"})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        first = site.mailer("run", "signups")
        again = site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
        listed = site.mailer("retry")
        requeued = site.mailer("retry", "--unknown")
        last = site.mailer("run", "signups", now=NOW + timedelta(minutes=10))

    assert first.exit_code == 0 and "1 unknown" in first.output
    assert again.exit_code == 0
    assert "unknown: confirmation to s***@example.org" in listed.output
    assert "mailer retry --unknown" in listed.output
    assert "1 unknown message queued again" in requeued.output
    assert last.exit_code == 0
    counts = sink.counts()
    assert counts["samira.haddad@example.org"] == 2, "the organizer chose a second copy"
    assert sum(counts.values()) == 15


def test_a_run_killed_mid_request_leaves_that_request_unknown(site):
    with SendgridStandIn(delay=30) as server:
        site.use_transport("sendgrid", host=server.url)
        run = subprocess.Popen(site.command("run", "signups", "--now", NOW.isoformat(), "--force"))
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        in_flight = len(server.personalizations)
        run.kill()
        run.wait()
        between_runs = site.mailer("status")
        server.delay = 0
        after = site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
        unknown = unsent(site)

    assert in_flight >= 1
    assert f"{in_flight} unknown: handed to the provider" in between_runs.output
    assert after.exit_code == 0, after.output
    assert len(unknown) == in_flight and {m["state"] for m in unknown} == {"unknown"}
    copies = server.copies()
    assert len(copies) == 14 and set(copies.values()) == {1}


def test_a_dropped_or_bounced_event_fails_an_unknown_message(site, signer):  # noqa: F811
    private, public_key = signer
    with SendgridStandIn(hang_up=True) as server:
        site.use_transport("sendgrid", host=server.url)
        site.mailer("run", "signups")
    first, second = server.personalizations[:2]
    events = [
        {
            "email": first["to"][0]["email"],
            "event": "dropped",
            "reason": "Invalid",
            "mailer_key": first["custom_args"]["mailer_key"],
        },
        {
            "email": second["to"][0]["email"],
            "event": "bounce",
            "type": "bounce",
            "reason": "550 5.1.1 no such user",
            "mailer_key": second["custom_args"]["mailer_key"],
        },
    ]
    body = json.dumps(events).encode()

    client(site, public_key).post("/sendgrid/events", data=body, headers=signed(private, body, NOW))

    states = {m["key"]: m["state"] for m in unsent(site)}
    assert states.pop(first["custom_args"]["mailer_key"]) == "failed"
    assert states.pop(second["custom_args"]["mailer_key"]) == "failed"
    assert set(states.values()) == {"unknown"}
