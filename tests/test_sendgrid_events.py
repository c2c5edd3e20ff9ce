"""SendGrid's Event Webhook: a bounce it learns of later stops every job from writing again."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest
from conftest import NOW
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from mail_servers import SendgridStandIn

from mailer.core.tokens import load_secret
from mailer.ledger.sqlite import Ledger
from mailer.web.app import create_app

BOUNCED = "daniel.reyes@example.org"
COMPLAINED = "maya.okafor@example.org"


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setenv("MAILER_SECRET", "test-secret-for-unsubscribe-links")


@pytest.fixture
def signer():
    """SendGrid's side of the webhook: a P-256 key, and its public half as SendGrid shows it."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode()


def signed(private, body: bytes, when) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


@pytest.fixture
def sent(site):
    """The sample confirmations, accepted by SendGrid."""
    with SendgridStandIn() as server:
        site.use_transport("sendgrid", host=server.url)
        assert site.mailer("run", "signups").exit_code == 0
    return site


def client(site, public_key: str):
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=False)
    app = create_app(
        settings.ledger.path, secret, "Care", clock=lambda: NOW, sendgrid_key=public_key
    )
    return app.test_client()


def events() -> bytes:
    return json.dumps(
        [
            {
                "email": BOUNCED,
                "event": "bounce",
                "type": "bounce",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist",
                "mailer_key": f"confirmation:ccs-2026-12-02:{BOUNCED}",
            },
            {"email": COMPLAINED, "event": "spamreport"},
            {"email": "priya.raman@example.org", "event": "delivered"},
            {"email": "aiko.tanaka@example.org", "event": "bounce", "type": "blocked"},
        ]
    ).encode()


def ledger_view(site) -> tuple[dict[str, str], dict[str, str]]:
    with Ledger(site.settings().ledger.path) as ledger:
        reasons = {m.email: m.reason for m in ledger.messages(("failed",))}
        rows = ledger.db.execute("SELECT email, reason FROM suppressions").fetchall()
    return reasons, dict(rows)


def test_a_later_bounce_fails_the_message_and_suppresses_the_address(sent, signer):
    private, public_key = signer
    body = events()

    answer = client(sent, public_key).post(
        "/sendgrid/events", data=body, headers=signed(private, body, NOW)
    )

    assert answer.status_code == 204
    failed, suppressions = ledger_view(sent)
    assert failed == {
        BOUNCED: "bounced: 550 5.1.1 The email account that you tried to reach does not exist"
    }
    assert suppressions == {BOUNCED: "bounce", COMPLAINED: "complaint"}


def test_no_job_writes_to_the_bounced_address_again(sent, signer):
    private, public_key = signer
    body = events()
    client(sent, public_key).post("/sendgrid/events", data=body, headers=signed(private, body, NOW))
    starts = json.loads(sent.mailer("status", "--json").output)["events"][0]["starts_at"]

    with SendgridStandIn() as server:
        sent.use_transport("sendgrid", host=server.url)
        day_before = datetime.fromisoformat(starts) - timedelta(hours=23)
        result = sent.mailer("run", "reminders", now=day_before)

    assert result.exit_code == 0, result.output
    reminded = {p["to"][0]["email"] for p in server.personalizations}
    assert BOUNCED not in reminded and COMPLAINED in reminded
    assert len(reminded) == 11


@pytest.mark.parametrize("forgery", ["unsigned", "tampered", "old", "other key"])
def test_a_forged_or_replayed_post_changes_nothing(sent, signer, forgery):
    private, public_key = signer
    body = events()
    headers = signed(private, body, NOW)
    if forgery == "unsigned":
        headers = {"Content-Type": "application/json"}
    if forgery == "tampered":
        body = body.replace(BOUNCED.encode(), b"someone.else@example.org")
    if forgery == "old":
        headers = signed(private, body, NOW - timedelta(hours=1))
    if forgery == "other key":
        headers = signed(ec.generate_private_key(ec.SECP256R1()), body, NOW)

    answer = client(sent, public_key).post("/sendgrid/events", data=body, headers=headers)

    assert answer.status_code == 403
    assert ledger_view(sent) == ({}, {})


def test_without_a_key_configured_the_webhook_takes_nothing(sent, signer):
    private, _ = signer
    body = events()

    answer = client(sent, "").post(
        "/sendgrid/events", data=body, headers=signed(private, body, NOW)
    )

    assert answer.status_code == 403
    assert ledger_view(sent) == ({}, {})


def with_event_key(site, key: str) -> None:
    text = site.config.read_text().replace(
        "port = 8080\n", f'port = 8080\nsendgrid_event_key = "{key}"\n', 1
    )
    site.config.write_text(text)


def rsa_public_key() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(public).decode()


@pytest.mark.parametrize(
    "key, said",
    [
        (rsa_public_key(), "RSA key, not ECDSA"),
        ("not a key at all!", "not base64"),
        (base64.b64encode(b"a truncated key").decode(), "not a public key"),
    ],
    ids=["RSA", "not base64", "not a key"],
)
def test_a_key_sendgrid_would_never_sign_with_fails_check_and_run(site, key, said):
    with_event_key(site, key)

    checked = site.mailer("check")
    ran = site.mailer("run")

    for result in (checked, ran):
        assert result.exit_code != 0
        assert "[server] sendgrid_event_key" in result.output and said in result.output
    assert site.sent() == []


def test_sendgrids_own_ecdsa_key_passes_the_settings_check(site, signer):
    _, public_key = signer
    with_event_key(site, public_key)

    assert site.settings().server.sendgrid_event_key == public_key
