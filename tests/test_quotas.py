"""Quotas and throttling are a pause, not a failure; the site's own limits keep under them.

Gmail answers `550 5.4.5 Daily user sending quota exceeded` at DATA once the
day's quota is spent; relays answer 421 or `450 4.7.1` when mail goes too
fast; SendGrid answers 429 with the moment its limit resets. None of these
fails a message or suppresses an address: sending stops, the rest stays
queued, and a later run goes on.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW
from mail_servers import Reply, SendgridStandIn, SmtpServer, SmtpSink
from test_sendgrid import queue, transport

from mailer.ledger.sqlite import Ledger
from mailer.sending.delivery import deliver
from mailer.sending.pacing import Limits
from mailer.sending.transports.sendgrid import SendgridTransport
from mailer.settings.config import SendgridSettings

RESET = int((NOW + timedelta(hours=1)).timestamp())  # SendGrid's limit resets in an hour


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


def with_limits(site, **limits: int) -> None:
    """Set `daily_limit` / `per_minute` under [transport] in the site's mailer.toml."""
    lines = "".join(f"{key} = {value}\n" for key, value in limits.items())
    text = site.config.read_text().replace("[transport]\n", f"[transport]\n{lines}", 1)
    site.config.write_text(text)


def states(site) -> Counter:
    ledger = Ledger(site.settings().ledger.path)
    try:
        return Counter(m.state for m in ledger.messages())
    finally:
        ledger.close()


def suppressions(site) -> dict[str, str]:
    ledger = Ledger(site.settings().ledger.path)
    try:
        return ledger.suppressed()
    finally:
        ledger.close()


def kinds_in_order(sink: SmtpSink) -> list[str]:
    return ["digest" if "List-Unsubscribe" in m.mime else "session" for m in sink.received]


def test_gmails_daily_quota_pauses_until_the_next_day_and_fails_nothing(site):
    sink = SmtpSink(quota=10)
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        decided = site.mailer("run", "--no-send")
        first = site.mailer("run")
        after_first = len(sink.received)
        an_hour_later = site.mailer("run", now=NOW + timedelta(hours=1))
        status = site.mailer("status", now=NOW + timedelta(hours=1))
        after_an_hour = len(sink.received)
        sink.quota = None  # a new day
        next_day = site.mailer("run", now=NOW + timedelta(hours=24, minutes=1))

    assert decided.exit_code == first.exit_code == next_day.exit_code == 0, first.output
    assert after_first == 10 and after_an_hour == 10
    assert "failed" not in first.output + an_hour_later.output
    assert "waiting" in first.output
    assert "Sending paused until Wed Nov 25 09:00 CST" in status.output
    assert "5.4.5 Daily user sending quota exceeded" in status.output
    assert suppressions(site) == {}
    assert states(site) == {"sent": 14 + 7}
    order = kinds_in_order(sink)
    assert order == sorted(order, key=lambda kind: kind == "digest"), "session emails first"
    copies = Counter(m.mime["Message-ID"] for m in sink.received)
    assert len(copies) == 21 and set(copies.values()) == {1}, "each exactly once"


def test_a_quota_reply_at_rcpt_suppresses_nobody(site):
    quota = "550 5.4.5 Daily user sending quota exceeded"
    sink = SmtpSink(refuse={"daniel.reyes@example.org": quota})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        site.mailer("run", "signups")

    assert suppressions(site) == {}
    assert states(site)["failed"] == 0 and states(site)["pending"] >= 1


def test_a_relay_saying_too_fast_pauses_a_quarter_hour(site):
    too_fast = "450 4.7.1 Error: too many requests per time unit, try later"
    sink = SmtpSink(refuse={"daniel.reyes@example.org": too_fast})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        first = site.mailer("run", "signups")
        sent_first = len(sink.received)
        sink.refuse.clear()
        site.mailer("run", "signups", now=NOW + timedelta(minutes=5))
        sent_soon = len(sink.received)
        site.mailer("run", "signups", now=NOW + timedelta(minutes=16))

    assert first.exit_code == 0 and "failed" not in first.output
    assert sent_first < 14 and sent_soon == sent_first
    assert len(sink.received) == 14 and set(sink.counts().values()) == {1}
    assert suppressions(site) == {}


def test_sendgrids_429_with_a_far_reset_pauses_until_then(tmp_path):
    ledger = Ledger(tmp_path / "mailer.db")
    queue(ledger, 10)
    limited = Reply(429, {"errors": [{"message": "too many"}]}, {"X-RateLimit-Reset": str(RESET)})
    with SendgridStandIn([limited]) as server:
        sendgrid = SendgridTransport(
            SendgridSettings(host=server.url, max_wait=60), clock=NOW.timestamp
        )
        first = deliver(ledger, sendgrid, NOW)
        paused = ledger.paused("sendgrid")
        too_soon = deliver(ledger, sendgrid, NOW + timedelta(minutes=30))
        after = deliver(ledger, sendgrid, NOW + timedelta(minutes=61))

    assert first == {"waiting": 10} and too_soon == {"waiting": 10}
    assert paused is not None and paused[0].timestamp() == RESET
    assert after == {"sent": 10}
    assert len(server.requests) == 2


def test_a_429_whose_reset_is_centuries_away_pauses_a_day_then_asks_again(tmp_path):
    ledger = Ledger(tmp_path / "mailer.db")
    queue(ledger, 10)
    far = Reply(429, {"errors": [{"message": "too many"}]}, {"X-RateLimit-Reset": "9999999999"})
    with SendgridStandIn([far]) as server:
        sendgrid = SendgridTransport(
            SendgridSettings(host=server.url, max_wait=60), clock=NOW.timestamp
        )
        first = deliver(ledger, sendgrid, NOW)
        paused = ledger.paused("sendgrid")
        within_the_day = deliver(ledger, sendgrid, NOW + timedelta(hours=23))
        next_day = deliver(ledger, sendgrid, NOW + timedelta(hours=24, minutes=1))

    assert first == {"waiting": 10} and within_the_day == {"waiting": 10}
    assert paused is not None and paused[0] == NOW + timedelta(hours=24), "not the year 2286"
    assert next_day == {"sent": 10}
    assert len(server.requests) == 2


def test_a_pause_recorded_until_2286_by_an_older_mailer_is_not_honoured(tmp_path):
    ledger = Ledger(tmp_path / "mailer.db")
    queue(ledger, 3)
    ledger.pause("sendgrid", datetime.fromtimestamp(9999999999, UTC), "429 rate limited")
    with SendgridStandIn() as server:
        outcome = deliver(ledger, transport(server), NOW)

    assert outcome == {"sent": 3}


def test_mailer_retry_resume_lifts_a_pause_that_mailer_status_shows(site):
    far = Reply(429, {"errors": [{"message": "too many"}]}, {"X-RateLimit-Reset": "9999999999"})
    with SendgridStandIn([far]) as server:
        site.use_transport("sendgrid", host=server.url, max_wait=1)
        paused = site.mailer("run", "signups")
        status = site.mailer("status")
        resumed = site.mailer("retry", "--resume")
        again = site.mailer("run", "signups")

    assert "waiting" in paused.output
    assert "Sending paused until Wed Nov 25 09:00 CST (429 rate limited by SendGrid)" in (
        status.output
    )
    assert "`mailer retry --resume` lifts it now" in status.output
    assert resumed.exit_code == 0
    assert (
        "Lifted the pause of sendgrid until 2026-11-25T15:00+00:00"
        " (429 rate limited by SendGrid): the next run sends." in resumed.output
    )
    assert again.exit_code == 0 and "14 sent" in again.output
    assert site.mailer("retry", "--resume").output.startswith("Sending was not paused.")


def test_sendgrids_spent_daily_credits_pause_instead_of_stopping_the_run(tmp_path):
    ledger = Ledger(tmp_path / "mailer.db")
    queue(ledger, 3)
    spent = Reply(401, {"errors": [{"field": None, "message": "Maximum credits exceeded"}]})
    with SendgridStandIn([spent]) as server:
        outcome = deliver(ledger, transport(server), NOW)

    assert outcome == {"waiting": 3}
    paused = ledger.paused("sendgrid")
    assert paused is not None and paused[0] == NOW + timedelta(hours=24)
    assert {m.state for m in ledger.messages()} == {"pending"}


def daily_world(site, signups: int = 5, subscribers: int = 250) -> None:
    """`signups` new confirmations for the sample session and a digest to `subscribers`."""
    template = site.rows("signups")[0]
    rows = []
    for i in range(signups):
        row = dict(template, Status="", Position="", Notified="", Note="")
        row.update({"Email Address": f"signer{i}@example.org", "Name": f"Signer {i}"})
        row["Send me the resource digest"] = "No"
        rows.append(row)
    site.write_rows("signups", rows)
    people = [
        {
            "email": f"reader{i:03d}@example.org",
            "name": f"Reader {i}",
            "subscribed_on": "2026-01-05",
        }
        | {"unsubscribed_on": ""}
        for i in range(subscribers)
    ]
    site.write_rows("subscribers", people)


def test_a_daily_limit_spreads_the_digest_over_the_following_days(site):
    daily_world(site)
    with_limits(site, daily_limit=100)
    days = []
    for day in range(4):
        before = len(site.sent()) + len(site.sent(digests=True))
        result = site.mailer("run", now=NOW + timedelta(days=day))
        assert result.exit_code == 0, result.output
        days.append((len(site.sent()), len(site.sent(digests=True)), before))
        if day == 0:
            status = site.mailer("status", "--json", now=NOW + timedelta(hours=1))

    sessions, digests = zip(*[(s, d) for s, d, _ in days], strict=True)
    assert sessions == (5, 5, 5, 5), "confirmations go first, on the first day"
    assert digests == (95, 195, 250, 250)
    per_day = [s + d - before for s, d, before in days]
    assert max(per_day) <= 100
    expected = json.loads(status.output)["expected"]
    assert [wave["messages"] for wave in expected] == [100, 55]
    assert expected[0]["from"].startswith("2026-11-25T15:00")


def test_a_per_minute_limit_waits_between_batches(tmp_path):
    from mailer.sending.transports.outbox import OutboxTransport

    ledger = Ledger(tmp_path / "mailer.db")
    queue(ledger, 25)
    outbox = OutboxTransport(tmp_path / "outbox")
    outbox.limits = Limits(per_minute=10)
    clock = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    outcome = deliver(ledger, outbox, NOW, sleep=sleep, clock=lambda: clock[0])

    assert outcome == {"sent": 25}
    assert waits == [60.0, 60.0]


def test_a_server_that_greets_with_421_pauses_the_run_instead_of_failing_it(site):
    refusing = socket.create_server(("127.0.0.1", 0))

    def greet() -> None:
        while True:
            try:
                connection, _ = refusing.accept()
            except OSError:
                return
            connection.sendall(b"421 4.7.0 Try again later, closing connection.\r\n")
            connection.close()

    threading.Thread(target=greet, daemon=True).start()
    port = refusing.getsockname()[1]
    site.use_transport("smtp", host="127.0.0.1", port=port, security="none")
    result = site.mailer("run", "signups")
    status = site.mailer("status")
    refusing.close()

    assert result.exit_code == 0, result.output
    assert "14 waiting" in result.output
    assert "Sending paused until" in status.output and "421 4.7.0" in status.output
    assert states(site) == {"pending": 14}
