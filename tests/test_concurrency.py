"""Two runs at once against one ledger: one waits for the other, nobody is emailed twice."""

from __future__ import annotations

import subprocess
from collections import Counter

from conftest import NOW
from mail_servers import SmtpServer, SmtpSink


def test_two_runs_at_once_send_each_message_once(site):
    command = site.command("run", "--now", NOW.isoformat(), "--force")
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    keys = Counter(line["key"] for line in site.sent())
    assert len(keys) == 14
    assert max(keys.values()) == 1
    assert sorted("14 sent" in out for out in outputs) == [False, True]


def test_two_runs_at_once_over_smtp_email_each_person_once(site, monkeypatch):
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")
    sink = SmtpSink()
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        command = site.command("run", "signups", "--now", NOW.isoformat(), "--force")
        runs = [
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=120)[0].decode() for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len(sink.received) == 14
    assert max(sink.counts().values()) == 1
