"""`mailer serve`: the unsubscribe pages, RFC 8058 one-click unsubscribe, and seat links.

GET shows one button (a plain form: no JavaScript, no external resources);
POST, from that button or from a mail client's one-click, writes the
suppression to the ledger at once. A token that is not one mailer issued
gets a plain refusal and changes nothing. /sendgrid/events takes SendGrid's
signed Event Webhook (bounces, spam reports; see provider_events).
/seat/<token> releases a seat or a waitlist place (see seat_pages).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from flask import Flask, Response, request

from mailer import provider_events, seat_pages
from mailer.ledger import Ledger
from mailer.mime import mask
from mailer.tokens import token_matches

UNSUBSCRIBE = "unsubscribe"
STYLE = (
    "body{font:17px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2933;"
    "background:#f4f1ec;margin:0;padding:24px}main{max-width:32rem;margin:0 auto;"
    "background:#fff;border-radius:8px;padding:24px}button{font:inherit;font-weight:600;"
    "color:#fff;background:#2f6f5e;border:0;border-radius:6px;padding:12px 22px;cursor:pointer}"
)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page(title: str, body: str, status: int = 200) -> Response:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return Response(html, status=status, headers=HEADERS, mimetype="text/html")


def create_app(
    ledger_path: Path,
    secret: str,
    org_name: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sendgrid_key: str = "",
    claim_window: timedelta | None = None,
) -> Flask:
    app = Flask("mailer")
    app.register_blueprint(seat_pages.blueprint(ledger_path, secret, page, clock, claim_window))

    def subscriber(token: str) -> str | None:
        """The address a token was issued for, if it is genuine."""
        ledger = Ledger(ledger_path)
        try:
            email = ledger.email_for_token(token)
        finally:
            ledger.close()
        return email if email and token_matches(secret, email, token) else None

    def refusal() -> Response:
        return page(
            "This link is not valid",
            "<p>Nothing was changed. To stop the digest, reply to any digest email and "
            "ask; a person will take you off the list.</p>",
            status=404,
        )

    @app.get("/")
    def home() -> Response:
        return page(org_name, "<p>This address serves the digest's unsubscribe links.</p>")

    @app.route("/unsubscribe/", methods=["GET", "POST"])
    def no_token() -> Response:
        return refusal()

    @app.get("/unsubscribe/<token>")
    def confirm(token: str) -> Response:
        email = subscriber(token)
        if email is None:
            return refusal()
        return page(
            "Unsubscribe from the digest?",
            f"<p>{escape(mask(email))} will no longer receive the resource digest from "
            f"{escape(org_name)}. Emails about sessions you sign up for still come.</p>"
            '<form method="post"><button type="submit">Unsubscribe</button></form>',
        )

    @app.post("/unsubscribe/<token>")
    def unsubscribe(token: str) -> Response:
        email = subscriber(token)
        if email is None:
            return refusal()
        ledger = Ledger(ledger_path)
        try:
            ledger.suppress(email, UNSUBSCRIBE, clock())
        finally:
            ledger.close()
        if request.form.get("List-Unsubscribe") == "One-Click":
            return Response("Unsubscribed.\n", mimetype="text/plain", headers=HEADERS)
        return page(
            "You are unsubscribed",
            f"<p>{escape(mask(email))} will get no more digests from {escape(org_name)}. "
            "Changed your mind? Reply to any digest email.</p>",
        )

    @app.post("/sendgrid/events")
    def sendgrid_events() -> Response:
        """SendGrid's Event Webhook: bounces and spam reports, signed with its key."""
        body = request.get_data()
        signature = request.headers.get(provider_events.SIGNATURE_HEADER, "")
        timestamp = request.headers.get(provider_events.TIMESTAMP_HEADER, "")
        if not provider_events.genuine(sendgrid_key, body, signature, timestamp, clock()):
            return Response("Not signed by SendGrid.\n", status=403, mimetype="text/plain")
        ledger = Ledger(ledger_path)
        try:
            provider_events.apply(ledger, provider_events.outcomes(body), clock())
        finally:
            ledger.close()
        return Response(status=204)

    return app
