"""Secrets handed over as files (`NAME_FILE`), as compose and Kubernetes mount them."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from mail_servers import Reply, SendgridStandIn, SmtpServer, SmtpSink

from mailer.core.env_secrets import read_secret
from mailer.core.errors import ConfigError
from mailer.core.redact import redact
from mailer.core.tokens import load_secret

KEY = "SG.key-from-a-mounted-file"


def secret_file(folder: Path, name: str, value: str) -> Path:
    path = folder / name
    path.write_text(value + "\n")  # as `echo value > file` leaves it
    return path


@pytest.fixture(autouse=True)
def no_secrets_in_the_environment(monkeypatch):
    for name in ("SENDGRID_API_KEY", "SMTP_PASSWORD", "MAILER_SECRET"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def test_the_variable_or_the_file_it_names(tmp_path):
    path = secret_file(tmp_path, "smtp_password", "from-the-file")

    assert read_secret("SMTP_PASSWORD", {"SMTP_PASSWORD": "from-the-variable"}) == (
        "from-the-variable"
    )
    assert read_secret("SMTP_PASSWORD", {"SMTP_PASSWORD_FILE": str(path)}) == "from-the-file"
    assert read_secret("SMTP_PASSWORD", {}) == ""


@pytest.mark.parametrize(
    ("content", "said"),
    [(None, "which cannot be read (No such file or directory)"), ("", "which is empty")],
    ids=["missing", "empty"],
)
def test_a_file_that_holds_no_secret_is_named_in_the_error(tmp_path, content, said):
    path = tmp_path / "mailer_secret"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ConfigError) as error:
        read_secret("MAILER_SECRET", {"MAILER_SECRET_FILE": str(path)})

    assert str(error.value) == f"MAILER_SECRET_FILE names {path}, {said}"


def test_both_the_variable_and_its_file_is_a_settings_error(site, tmp_path, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("SENDGRID_API_KEY_FILE", str(secret_file(tmp_path, "key", KEY)))
    site.use_transport("sendgrid", host="http://127.0.0.1:9")

    result = site.mailer("run", "signups")

    assert result.exit_code == 2
    assert "both SENDGRID_API_KEY and SENDGRID_API_KEY_FILE are set: keep one" in result.output
    assert KEY not in result.output


def test_the_sendgrid_key_from_a_file_signs_requests_and_is_blanked_when_echoed(
    site, tmp_path, monkeypatch
):
    monkeypatch.setenv("SENDGRID_API_KEY_FILE", str(secret_file(tmp_path, "key", KEY)))
    monkeypatch.setenv("MAILER_SECRET_FILE", str(secret_file(tmp_path, "secret", "s" * 32)))
    echo = Reply(401, {"errors": [{"message": f"The API key {KEY} is not valid"}]})
    with SendgridStandIn([echo]) as refused:
        site.use_transport("sendgrid", host=refused.url)
        shown = site.mailer("run", "signups")
    with SendgridStandIn() as server:
        site.use_transport("sendgrid", host=server.url)
        sent = site.mailer("run", "signups")

    assert shown.exit_code == 1
    assert "The API key [secret] is not valid" in shown.output
    assert KEY not in shown.output
    assert sent.exit_code == 0, sent.output
    assert {r.headers["Authorization"] for r in server.requests} == {f"Bearer {KEY}"}


def test_the_smtp_password_from_a_file_logs_in(site, tmp_path, monkeypatch):
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(site.root / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    monkeypatch.setenv("SMTP_PASSWORD_FILE", str(secret_file(tmp_path, "pw", "pw-from-file")))
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")
    sink = SmtpSink()
    with SmtpServer(sink, "starttls", context, ("mailer", "pw-from-file")) as server:
        site.use_transport(
            "smtp",
            host="localhost",
            port=server.port,
            security="starttls",
            username="mailer",
            ca_file="ca.pem",
        )
        result = site.mailer("run", "signups")

    assert result.exit_code == 0, result.output
    assert len(sink.received) == 14


def test_the_unsubscribe_secret_from_a_file_and_a_ledger_url_password_are_redacted(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MAILER_SECRET_FILE", str(secret_file(tmp_path, "s", "t" * 24)))
    monkeypatch.setenv("MAILER_LEDGER_URL", "postgresql://mailer:db-pass-9@db/mailer")

    assert load_secret(tmp_path / "state", may_generate=False) == "t" * 24
    assert redact(f"secret {'t' * 24}, url postgresql://mailer:db-pass-9@db") == (
        "secret [secret], url postgresql://mailer:[secret]@db"
    )
