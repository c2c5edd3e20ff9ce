"""`mailer serve`: the unsubscribe pages, RFC 8058 one-click unsubscribe, and seat links.

GET shows one button (a plain form: no JavaScript, no external resources);
POST, from that button or from a mail client's one-click, writes the
suppression to the ledger at once. A token that is not one mailer issued
gets a plain refusal and changes nothing. /sendgrid/events takes SendGrid's
signed Event Webhook (deliveries, bounces, spam reports; see transports/sendgrid_events.py).
/seat/<token> releases a seat, leaves the waitlist or claims an offer (see seat_pages.py).

On every route alike: every answer, errors included, carries headers that
keep the pages out of frames and referrers; bodies are capped (a form needs
a few KB, SendGrid's event batches a few MB: 413 past that); a browser POST
from another site's page is refused (403); a failure is a short page, never
a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mailer.core.errors import ConfigError
from mailer.core.redact import mask, redact
from mailer.core.tokens import address_in, token_matches
from mailer.ledger import Ledger
from mailer.ledger.privacy import ask_to_forget
from mailer.mail.speech import ENGLISH, Speech
from mailer.settings.event_key import load_event_key
from mailer.web import healthz, seat_pages
from mailer.web import sendgrid_events as webhook
from mailer.web.ledgers import LedgerHandle

UNSUBSCRIBE = "unsubscribe"
STYLE = (
    "body{font:17px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2933;"
    "background:#f4f1ec;margin:0;padding:24px}main{max-width:32rem;margin:0 auto;"
    "background:#fff;border-radius:8px;padding:24px}button{font:inherit;font-weight:600;"
    "color:#fff;background:#2f6f5e;border:0;border-radius:6px;padding:12px 22px;cursor:pointer}"
)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
FORM_LIMIT = 16 * 1024  # an unsubscribe form or a one-click POST is a few bytes
# SendGrid posts events in batches of up to a few MB; a little headroom above that.
WEBHOOK_LIMIT = 8 * 1024 * 1024
ONE_CLICK = "One-Click"
ERROR_TITLES = {
    404: "This page does not exist",
    405: "This page does not take that",
    413: "That was too much",
    400: "That request was not understood",
}
ERROR_TEXTS = {
    404: "Nothing was changed. Check the link in your email.",
    413: "Nothing was changed: this page takes a few kilobytes at most.",
}
log = logging.getLogger(__name__)


def page(title: str, body: str, status: int = 200, words: Speech = ENGLISH) -> Response:
    html = (
        f'<!doctype html><html lang="{escape(words.code)}" dir="{escape(words.direction)}">'
        f'<head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return Response(html, status=status, headers=HEADERS, mimetype="text/html")


def create_app(
    where: Ledger | Path | str,
    secret: str,
    org_name: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sendgrid_key: str = "",
    public_url: str = "",
    claim_window: timedelta | None = None,
    languages: Callable[[str], Speech | None] | None = None,
) -> Flask:
    """The pages; `languages` gives the site's Speech for a language code (None: not one of
    its languages) so each page speaks the language its link or seat names."""
    try:
        event_key = load_event_key(sendgrid_key) if sendgrid_key else None
    except ValueError as err:
        raise ConfigError(f"[server] sendgrid_event_key: {err}") from None
    ledgers = LedgerHandle(where)  # any number of copies may serve one shared ledger
    ledgers.get().index_seat_tokens(secret)  # seats from before the index, or a new secret
    app = Flask("mailer")
    app.config["MAX_CONTENT_LENGTH"] = FORM_LIMIT
    language_of = languages or (lambda code: ENGLISH if code in ("", "en") else None)

    def say(own: str) -> Speech:
        """The link's ?lang= when the site speaks it, else the seat's language, else the default."""
        for code in (request.args.get("lang", "")[:20], own):
            found = language_of(code) if code else None
            if found is not None:
                return found
        return language_of("") or ENGLISH

    app.register_blueprint(
        seat_pages.blueprint(ledgers, secret, page, clock, claim_window, say=say)
    )
    app.register_blueprint(healthz.blueprint(ledgers))

    @app.before_request
    def guard() -> Response | None:
        """On every route: the body within its cap (413), and no form posted from another site."""
        webhook_route = request.endpoint == "sendgrid_events"
        request.max_content_length = WEBHOOK_LIMIT if webhook_route else FORM_LIMIT
        if request.method != "POST":
            return None
        request.get_data(cache=True)  # reads at most the cap; past it, 413
        if webhook_route or _one_click():
            return None  # SendGrid signs its posts; mail providers post with no page at all
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if same_origin(fetch_site, request.headers.get("Origin"), public_url):
            return None
        return page(
            "This form belongs to another site",
            "<p>Nothing was changed. Use the link in the email you received.</p>",
            status=403,
        )

    @app.after_request
    def secure(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(HTTPException)
    def refused(error: HTTPException) -> Response:
        """Not found, wrong method, too large: a short page, never a framework's default."""
        code = error.code or 500
        title = ERROR_TITLES.get(code, error.name)
        return page(title, f"<p>{escape(ERROR_TEXTS.get(code, 'Nothing was changed.'))}</p>", code)

    @app.errorhandler(Exception)
    def failed(error: Exception) -> Response:
        """Whatever went wrong stays in the server's log (redacted); the visitor gets a page."""
        log.error("%s %s failed: %s", request.method, request.path, redact(repr(error)))
        return page(
            "Something went wrong",
            "<p>Nothing was changed. Please try again in a few minutes.</p>",
            status=500,
        )

    def subscriber(token: str) -> str | None:
        """The address a token was issued for, if it is genuine (see mailer.core.tokens)."""
        email = address_in(secret, token)
        if email is not None:
            return email
        email = ledgers.get().email_for_token(token)
        return email if email and token_matches(secret, email, token) else None

    def refusal() -> Response:
        words = say("")
        _ = words.gettext
        nothing = _(
            "Nothing was changed. To stop the digest, reply to any digest email and ask;"
            " a person will take you off the list."
        )
        return page(_("This link is not valid"), f"<p>{escape(nothing)}</p>", 404, words)

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
        words = say("")
        _ = words.gettext
        said = _(
            "%(address)s will no longer receive the resource digest from %(organization)s."
            " Emails about sessions you sign up for still come."
        ) % {"address": mask(email), "organization": org_name}
        return page(
            _("Unsubscribe from the digest?"),
            f"<p>{escape(said)}</p>"
            f'<form method="post"><button type="submit">{escape(_("Unsubscribe"))}</button></form>',
            words=words,
        )

    @app.post("/unsubscribe/<token>")
    def unsubscribe(token: str) -> Response:
        one_click = _one_click()
        email = subscriber(token)
        if email is None:
            return refusal()
        ledgers.get().suppress(email, UNSUBSCRIBE, clock())
        if one_click:
            return Response("Unsubscribed.\n", mimetype="text/plain", headers=HEADERS)
        words = say("")
        _ = words.gettext
        said = _(
            "%(address)s will get no more digests from %(organization)s."
            " Changed your mind? Reply to any digest email."
        ) % {"address": mask(email), "organization": org_name}
        return page(_("You are unsubscribed"), f"<p>{escape(said)}</p>", words=words)

    @app.get("/forget/<token>")
    def forget_confirm(token: str) -> Response:
        """The "forget me" link beside unsubscribe: what it does, and one button to confirm."""
        email = address_in(secret, token)
        if email is None:
            return refusal()
        return page(
            "Ask us to forget you?",
            f"<p>{escape(org_name)} will delete what its mailer holds about "
            f"{escape(mask(email))}: your places in sessions, the emails sent to you and your "
            "digest subscription. Its organizers are asked to delete your form answers. "
            "To take part again later, sign up anew.</p>"
            '<form method="post"><button type="submit">Forget me</button></form>',
        )

    @app.post("/forget/<token>")
    def forget_me(token: str) -> Response:
        email = address_in(secret, token)
        if email is None:
            return refusal()
        ask_to_forget(ledgers.get(), token, clock())
        return page(
            "You will be forgotten",
            f"<p>Within minutes, {escape(mask(email))} leaves {escape(org_name)}'s mailer: "
            "nothing more is sent to it, and what was kept about you is deleted.</p>",
        )

    @app.post("/sendgrid/events")
    def sendgrid_events() -> Response:
        """SendGrid's Event Webhook: deliveries, bounces and spam reports, signed with its key."""
        body = request.get_data()
        signature = request.headers.get(webhook.SIGNATURE_HEADER, "")
        timestamp = request.headers.get(webhook.TIMESTAMP_HEADER, "")
        if not webhook.genuine(event_key, body, signature, timestamp, clock()):
            return Response("Not signed by SendGrid.\n", status=403, mimetype="text/plain")
        webhook.apply(ledgers.get(), webhook.outcomes(body), clock())
        return Response(status=204)

    return app


def _one_click() -> bool:
    """An RFC 8058 one-click unsubscribe, which a mail provider posts from no page at all."""
    return request.path.startswith("/unsubscribe/") and (
        request.form.get("List-Unsubscribe") == ONE_CLICK
    )


def same_origin(fetch_site: str | None, origin: str | None, public_url: str) -> bool:
    """A POST from our own page, or from no page at all (a mail provider's one-click).

    Browsers say where a request comes from in Sec-Fetch-Site; older ones only in
    Origin, which is "null" under our no-referrer policy. Our pages are served at
    `public_url` behind a proxy, or at the address the request came to.
    """
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    if origin is None or origin == "null":
        return True
    ours = {_origin(request.host_url)}
    if public_url:
        ours.add(_origin(public_url))
    return _origin(origin) in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
