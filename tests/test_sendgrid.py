"""Delivery through the real SendGrid SDK, pointed by its `host` at a stand-in on loopback."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import icalendar
import pytest
from conftest import NOW
from mail_servers import Reply, SendgridStandIn

from mailer.core.errors import TransportError
from mailer.ledger import Ledger, open_ledger
from mailer.mail.message import Body, Draft
from mailer.sending.delivery import deliver
from mailer.sending.transports.sendgrid import SendgridTransport
from mailer.settings.config import SendgridSettings

KEY = "SG.test-key-never-printed"


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


def shared_body() -> Body:
    return Body(
        subject="Resources for %%mailer:first_name%%",
        html="<p>Dear %%mailer:name%%,</p><p>new resources this week.</p>",
        text="Dear %%mailer:name%%,\nnew resources this week.",
        sender_email="sessions@example.org",
        sender_name="Community Care Network",
        reply_to="organizers@example.org",
        headers=(("List-Unsubscribe", "<%%mailer:unsubscribe_mailto%%>"),),
    )


def queue(ledger: Ledger, count: int, body: Body | None = None) -> None:
    body = body or shared_body()
    ledger.add(
        Draft(
            key=f"digest:test:2026-11-30:person{i}@example.org",
            kind="digest",
            event_id="",
            to_email=f"person{i}@example.org",
            to_name=f"Person {i}",
            created_at=NOW,
            body=body,
            person={
                "name": f"Person {i}",
                "first_name": "Person",
                "unsubscribe_mailto": f"mailto:leave@example.org?subject=person{i}",
            },
        )
        for i in range(count)
    )


def transport(server: SendgridStandIn, waits: list[float] | None = None, **settings):
    sleeps = waits if waits is not None else []
    return SendgridTransport(
        SendgridSettings(host=server.url, **settings),
        sleep=sleeps.append,
        clock=lambda: 1_000_000.0,
    )


def states(ledger: Ledger) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in ledger.messages():
        counts[message.state] = counts.get(message.state, 0) + 1
    return counts


def test_sample_run_sends_one_request_per_shared_body(site):
    with SendgridStandIn() as server:
        site.use_transport("sendgrid", host=server.url)
        result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert "14 sent" in result.output
    assert KEY not in result.output
    assert len(server.personalizations) == 14
    # Each invitation names its attendee, so confirmations go one by one; the waitlist
    # notices share a body per language (Ben's in English, Rosa's in Spanish).
    assert len(server.requests) == 14
    request = server.requests[0]
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["tracking_settings"]["open_tracking"] == {"enable": False}
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["mail_settings"]["sandbox_mode"]["enable"] is False
    assert body["from"] == {"email": "sessions@example.org", "name": "Community Care Network"}
    assert body["reply_to"] == {"email": "organizers@example.org"}
    keys = [p["custom_args"]["mailer_key"] for p in server.personalizations]
    assert len(set(keys)) == 14 and all(k.startswith(("confirmation:", "waitlist:")) for k in keys)
    first = body["personalizations"][0]
    assert first["substitutions"]["%%mailer:first_name%%"] in first["to"][0]["name"]
    confirmation = next(r.body for r in server.requests if "confirmed" in r.body["subject"])
    invite = confirmation["attachments"][0]
    assert invite["type"] == "text/calendar; method=REQUEST" and invite["filename"] == "invite.ics"
    event = icalendar.Calendar.from_ical(base64.b64decode(invite["content"])).walk("VEVENT")[0]
    assert event.decoded("DTSTART").tzinfo is not None


def test_a_shared_body_goes_out_1000_personalizations_a_request(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 2500)
    with SendgridStandIn() as server:
        outcome = deliver(ledger, transport(server), NOW)

    assert outcome["sent"] == 2500
    assert len(server.requests) == math.ceil(2500 / 1000)
    assert [len(r.body["personalizations"]) for r in server.requests] == [1000, 1000, 500]
    assert states(ledger) == {"sent": 2500}
    assert {m.provider_id for m in ledger.messages()} >= {"sg-1", "sg-3"}


def test_values_are_escaped_in_html_and_plain_in_text(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    body = shared_body()
    ledger.add(
        [
            Draft(
                key="digest:test:x:ann@example.org",
                kind="digest",
                event_id="",
                to_email="ann@example.org",
                to_name="Ann <b>& Bo",
                created_at=NOW,
                body=body,
                person={"name": "Ann <b>& Bo", "first_name": "Ann"},
            )
        ]
    )
    with SendgridStandIn() as server:
        deliver(ledger, transport(server), NOW)

    sent = server.requests[0].body
    (person,) = sent["personalizations"]
    assert "%%mailer:name:html%%" in sent["content"][1]["value"]
    assert "%%mailer:name%%" in sent["content"][0]["value"]
    assert person["substitutions"]["%%mailer:name%%"] == "Ann <b>& Bo"
    assert person["substitutions"]["%%mailer:name:html%%"] == "Ann &lt;b&gt;&amp; Bo"
    assert person["headers"] == {"List-Unsubscribe": "<>"}


def test_429_waits_until_the_rate_limit_resets(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 10)
    waits: list[float] = []
    script = [Reply(429, {"errors": [{"message": "too many"}]}, {"X-RateLimit-Reset": "1000007"})]
    with SendgridStandIn(script) as server:
        outcome = deliver(ledger, transport(server, waits), NOW)

    assert outcome["sent"] == 10
    assert waits == [7.0]
    assert len(server.requests) == 2


def test_5xx_is_retried_with_backoff_then_left_for_the_next_run(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 3)
    waits: list[float] = []
    with SendgridStandIn([Reply(503), Reply(500)]) as server:
        outcome = deliver(ledger, transport(server, waits), NOW)
    assert outcome["sent"] == 3 and len(waits) == 2 and 0 < waits[0] <= waits[1] + 1

    ledger = open_ledger(tmp_path / "again.db")
    queue(ledger, 3)
    with SendgridStandIn([Reply(503)] * 6) as server:
        first = deliver(ledger, transport(server), NOW)
        second = deliver(ledger, transport(server), NOW)
    assert first["retry"] == 3 and len(server.requests) == 7
    assert second["sent"] == 3
    assert states(ledger) == {"sent": 3}


def test_400_fails_the_messages_sendgrid_names_and_sends_the_rest(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 4)
    error = {
        "errors": [
            {
                "message": "Does not contain a valid address.",
                "field": "personalizations.2.to.0.email",
            }
        ]
    }
    with SendgridStandIn([Reply(400, error)]) as server:
        outcome = deliver(ledger, transport(server), NOW)

    assert outcome == {"sent": 3, "failed": 1}
    (failed,) = ledger.messages(("failed",))
    assert failed.email == "person2@example.org"
    assert "Does not contain a valid address" in failed.reason
    assert [len(r.body["personalizations"]) for r in server.requests] == [4, 3]


def test_400_without_a_field_fails_the_request_with_the_reason(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 2)
    error = {"errors": [{"message": "The from address does not match a verified Sender"}]}
    with SendgridStandIn([Reply(400, error)]) as server:
        outcome = deliver(ledger, transport(server), NOW)

    assert outcome == {"failed": 2}
    assert all("verified Sender" in m.reason for m in ledger.messages())
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_at_once_and_retries_nothing(site, status):
    error = {"errors": [{"message": "The provided authorization grant is invalid"}]}
    with SendgridStandIn([Reply(status, error)]) as server:
        site.use_transport("sendgrid", host=server.url)
        result = site.mailer("run", "signups")
        unsent = json.loads(site.mailer("status", "--json").output)["unsent"]

    assert result.exit_code == 1
    assert "check SENDGRID_API_KEY" in result.output
    assert KEY not in result.output
    assert len(server.requests) == 1
    assert len(unsent) == 14 and {m["state"] for m in unsent} == {"pending"}


def test_sandbox_validates_without_marking_anything_sent(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 2)
    with SendgridStandIn([Reply(200)]) as server:
        outcome = deliver(ledger, transport(server, sandbox=True), NOW)

    assert server.requests[0].body["mail_settings"]["sandbox_mode"] == {"enable": True}
    assert outcome == {"retry": 2}
    assert all("sandbox" in m.reason for m in ledger.messages())


def test_no_key_is_a_config_error(site, monkeypatch):
    monkeypatch.delenv("SENDGRID_API_KEY")
    site.use_transport("sendgrid", host="http://127.0.0.1:9")

    result = site.mailer("run", "signups")

    assert result.exit_code == 2
    assert "SENDGRID_API_KEY" in result.output


def test_an_unreachable_api_is_retried_then_left_pending(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 2)
    waits: list[float] = []
    unreachable = SendgridTransport(
        SendgridSettings(host="http://127.0.0.1:9", timeout=2), sleep=waits.append
    )

    outcome = deliver(ledger, unreachable, NOW)

    assert outcome == {"retry": 2}
    assert len(waits) == 5
    assert all("cannot reach SendGrid" in m.reason for m in ledger.messages())


def test_transport_error_names_the_status(tmp_path: Path):
    ledger = open_ledger(tmp_path / "mailer.db")
    queue(ledger, 1)
    with SendgridStandIn([Reply(401)]) as server, pytest.raises(TransportError, match="401"):
        deliver(ledger, transport(server), NOW)


def test_the_api_key_only_travels_over_https(site):
    site.use_transport("sendgrid", host="http://api.sendgrid.com")

    result = site.mailer("run", "signups")

    assert result.exit_code == 2
    assert (
        "[transport.sendgrid] host: 'http://api.sendgrid.com': expected an https:// URL"
        in result.output
    )


def test_the_digest_is_one_body_with_each_readers_own_unsubscribe_link(site):
    text = site.config.read_text().replace(
        'public_url = ""', 'public_url = "https://care.example.org"'
    )
    site.config.write_text(text)
    with SendgridStandIn() as server:
        site.use_transport("sendgrid", host=server.url)
        result = site.mailer("run", "digest")

    assert result.exit_code == 0, result.output
    (request,) = server.requests
    body = request.body
    assert "%%mailer:unsubscribe_url:html%%" in body["content"][1]["value"]
    people = body["personalizations"]
    assert len(people) == 7
    links = {p["substitutions"]["%%mailer:unsubscribe_url%%"] for p in people}
    assert len(links) == 7 and all(
        link.startswith("https://care.example.org/unsubscribe/") for link in links
    )
    for person in people:
        link = person["substitutions"]["%%mailer:unsubscribe_url%%"]
        assert person["headers"]["List-Unsubscribe"].startswith(f"<{link}>")
        assert person["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
