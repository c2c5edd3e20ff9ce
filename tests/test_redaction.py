"""Addresses masked and secrets blanked wherever text reaches a person or a file.

Servers echo what they were sent: a refused key, the address they refused.
`mailer status`, the `error:` line of `mailer run`, the logs, job-runs.json and
the sheet's Note all show it redacted (`mailer status --addresses` unmasks).
"""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from mail_servers import Reply, SendgridStandIn, SmtpServer, SmtpSink

from mailer.cli.commands import cli

KEY = "SG.test-key-never-printed"
BOUNCING = "daniel.reyes@example.org"
ECHO = f"550 5.1.1 <{BOUNCING}>: no such user here"


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


def test_a_key_the_server_echoes_is_blanked_in_the_error_line_and_job_runs(site):
    echo = Reply(401, {"errors": [{"message": f"The API key {KEY} is not valid"}]})
    with SendgridStandIn([echo, echo]) as server:
        site.use_transport("sendgrid", host=server.url)
        shown = site.mailer("run", "signups")
        recorded = CliRunner().invoke(cli, ["--config", str(site.config), "run", "signups"])

    runs = (site.root / "state" / "job-runs.json").read_text()
    assert shown.exit_code == recorded.exit_code == 1
    assert "error: signups: SendGrid refused the request (401 The API key [secret]" in (
        shown.output
    )
    assert KEY not in shown.output + recorded.output + runs
    assert "[secret]" in json.loads(runs)["signups"]["summary"]


def test_an_address_the_server_echoes_is_masked_in_status_logs_and_the_sheet(site, caplog):
    sink = SmtpSink(refuse={BOUNCING: ECHO})
    with SmtpServer(sink) as server:
        site.use_transport("smtp", host="127.0.0.1", port=server.port, security="none")
        site.mailer("run", "signups")
        status = site.mailer("status")
        unmasked = site.mailer("status", "--addresses")

    note = next(row["Note"] for row in site.rows() if row["Email Address"] == BOUNCING)
    assert "failed: confirmation for ccs-2026-12-02 to Daniel Reyes <d***@example.org>" in (
        status.output
    )
    assert "<d***@example.org>: no such user here" in status.output
    assert BOUNCING not in status.output
    assert f"to Daniel Reyes <{BOUNCING}> (550 5.1.1 <{BOUNCING}>" in unmasked.output
    assert note == "email failed: 550 5.1.1 <d***@example.org>: no such user here"
    assert BOUNCING not in caplog.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_echoing_the_auth_plain_blob_shows_no_trace_of_the_password(
    site, monkeypatch, caplog
):
    password = "wrong-Passw0rd!"
    monkeypatch.setenv("SMTP_PASSWORD", password)
    blob = base64.b64encode(f"\0mailer\0{password}".encode()).decode()
    sink = SmtpSink()
    with SmtpServer(sink, login=("mailer", "right-pw"), echo_auth=True) as server:
        site.use_transport(
            "smtp", host="127.0.0.1", port=server.port, security="none", username="mailer"
        )
        failed = CliRunner().invoke(cli, ["--config", str(site.config), "run", "signups"])
        status = site.mailer("status", "--addresses")

    runs = (site.root / "state" / "job-runs.json").read_text()
    everything = failed.output + status.output + runs + caplog.text
    assert failed.exit_code == 1
    assert "Authentication failed for" in everything  # the server's echo got this far
    assert blob not in everything and password not in everything
    assert base64.b64encode(password.encode()).decode()[:12] not in everything
    assert "[secret]" in everything
