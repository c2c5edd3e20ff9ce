"""Three `mailer daemon` processes on one PostgreSQL ledger divide the sending; each message
arrives once, and a daemon killed mid-send loses nothing and sends nothing twice."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SiteDir
from mail_servers import SmtpServer, SmtpSink
from test_digest import add_resources

from mailer.ledger import open_ledger

pytestmark = pytest.mark.slow
CHICAGO = ZoneInfo("America/Chicago")
READERS = 5000


def message_id(key: str) -> str:
    """The Message-ID mailer gives the message with this idempotency key."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@example.org>"


def wait_for(condition: Callable[[], bool], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def busy_site(site: SiteDir) -> None:
    """A session ten hours from now, 5,000 digest readers and a resource added today."""
    (site.root / "jobs" / "signups.toml").write_text('kind = "signups"\nevery = "2 seconds"\n')
    events = site.rows("events")
    soon = datetime.now(CHICAGO).replace(second=0, microsecond=0) + timedelta(hours=10)
    events[0]["starts_at"] = f"{soon:%Y-%m-%d %H:%M}"
    events[0]["ends_at"] = f"{soon + timedelta(minutes=90):%Y-%m-%d %H:%M}"
    site.write_rows("events", events)
    readers = site.rows("subscribers")
    fields = list(readers[0])
    readers += [  # email, name, subscribed_on; the rest (unsubscribed_on, language) blank
        dict.fromkeys(fields, "")
        | dict(
            zip(fields[:3], [f"reader{n}@example.net", f"Reader {n}", "2026-01-05"], strict=True)
        )
        for n in range(READERS)
    ]
    site.write_rows("subscribers", readers)
    add_resources(site, "Grounding for long days", added_on=f"{datetime.now(CHICAGO):%Y-%m-%d}")
    text = site.config.read_text()
    site.config.write_text(text.replace("[ledger]\n", '[ledger]\nlease = "10 seconds"\n', 1))


def test_three_daemons_send_every_message_once_and_one_killed_mid_send_loses_nothing(
    pg_site, tmp_path: Path, monkeypatch
):
    site = pg_site
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")
    busy_site(site)
    sink = SmtpSink()
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        logs = [tmp_path / f"daemon{n}.log" for n in range(3)]
        daemons = []
        for log_path in logs:
            with open(log_path, "wb") as log:
                daemons.append(
                    subprocess.Popen(site.command("daemon"), stdout=log, stderr=subprocess.STDOUT)
                )
        try:
            wait_for(lambda: len(sink.received) >= 1500)
            killed = daemons[1]
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
            with open_ledger(site.settings()) as ledger:

                def settled() -> bool:
                    states = Counter(
                        m.state
                        for m in ledger.messages(
                            ("pending", "retry", "sending", "sent", "unknown", "failed")
                        )
                    )
                    return (
                        states["sent"] + states["unknown"] + states["failed"]
                        == sum(states.values())
                        > READERS
                    )

                wait_for(settled)
                messages = ledger.messages()
                sending_left = ledger.messages(("sending",))
            for daemon in daemons:
                if daemon is not killed:
                    daemon.send_signal(signal.SIGTERM)
                    daemon.wait(timeout=60)
        finally:
            for daemon in daemons:
                daemon.kill()

    received = Counter(m.mime["Message-ID"] for m in sink.received)
    key_of = {message_id(m.key): m.key for m in messages}
    arrived = {key_of[found] for found in received}
    states = Counter(m.state for m in messages)
    unknown = {m.key for m in messages if m.state == "unknown"}
    sent = {m.key for m in messages if m.state == "sent"}
    texts = [p.read_text() for p in logs]
    assert max(received.values()) == 1, "no message arrived twice"
    assert sent <= arrived, "every message the ledger calls sent arrived"
    assert arrived <= sent | unknown, "nothing arrived that the ledger does not know of"
    assert arrived | unknown == set(key_of.values()), "nothing lost"
    assert states["failed"] == 0 and sending_left == []
    assert len(unknown) <= 1, "at most the one message the killed daemon was handing over"
    assert sum(1 for m in messages if m.kind == "digest") > READERS
    assert all("Traceback" not in text for text in texts[:1] + texts[2:])
    senders = [text.count("helped send") for text in texts]
    assert sum(senders) > 0, "the daemons divided the sending"
