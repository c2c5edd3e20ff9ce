"""SendGrid delivery (v3 Mail Send through the `sendgrid` SDK).

Messages that share a body go out in one request, up to 1,000
personalizations, each carrying that person's values as substitutions and
the idempotency key in custom_args. Open, click and subscription tracking
are off. A 429 waits until X-RateLimit-Reset when that is within `max_wait`,
and otherwise pauses sending until then (a day at most); 5xx and a server that cannot be
reached retry with backoff; 400 fails the messages it names with SendGrid's
reason; 401 and 403 stop the run at once. Mail Send has no idempotency key:
a request that went out and got no answer (a timeout, a dropped line) may
have been accepted, so it is never repeated and its messages are unknown.
The key comes from SENDGRID_API_KEY.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import urllib.error
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from http.client import HTTPException
from itertools import groupby

from python_http_client import exceptions as http
from python_http_client.client import Response
from sendgrid import SendGridAPIClient

from mailer.core.env_secrets import SENDGRID_API_KEY, read_secret
from mailer.core.errors import ConfigError, TransportError
from mailer.core.retry import Retry, with_retries
from mailer.mail.message import (
    FAILED,
    PAUSE,
    RETRY,
    SENT,
    TOKEN,
    UNKNOWN,
    Body,
    OutgoingMessage,
    SendResult,
)
from mailer.sending.pacing import LONGEST_PAUSE
from mailer.sending.transports.base import TransportBase
from mailer.settings.config import SendgridSettings, Settings

log = logging.getLogger("mailer.sendgrid")
# The SDK's HTTP client logs request headers (the API key) and payloads (addresses) at DEBUG.
logging.getLogger("python_http_client").setLevel(logging.WARNING)

KEY_VARIABLE = SENDGRID_API_KEY
PER_REQUEST = 1000
ATTEMPTS = 6
CREDITS = "maximum credits exceeded"
PERSONALIZATION = re.compile(r"personalizations\.(\d+)")
SANDBOX_REASON = "accepted by the SendGrid sandbox, not delivered (sandbox = true)"
NO_TRACKING = {
    "click_tracking": {"enable": False, "enable_text": False},
    "open_tracking": {"enable": False},
    "subscription_tracking": {"enable": False},
    "ganalytics": {"enable": False},
}


class RateLimited(Retry):
    """A 429 worth waiting out; `resume_at` is when SendGrid's limit resets."""

    def __init__(self, reason: str, wait: float, resume_at: datetime):
        super().__init__(reason, wait)
        self.resume_at = resume_at


class Unanswered(Exception):
    """The request went out and no answer came back: SendGrid may have accepted it."""


class Paused(Exception):
    """SendGrid said "not now" for longer than `max_wait` (a rate limit, a day's credits)."""

    def __init__(self, reason: str, resume_at: datetime | None = None, quota: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.resume_at = resume_at
        self.quota = quota


def html_tag(name: str) -> str:
    return f"%%mailer:{name}:html%%"


def payload(
    body: Body, messages: Sequence[OutgoingMessage], sandbox: bool = False
) -> dict[str, object]:
    """One Mail Send request for messages that share `body`.

    The HTML part uses its own tags so its values are HTML-escaped while the
    subject and plain text get them as typed.
    """
    html_part = TOKEN.sub(lambda m: html_tag(m.group(1)), body.html)
    names = set(TOKEN.findall(body.subject + body.text + body.html))
    data: dict[str, object] = {
        "from": {"email": body.sender_email, "name": body.sender_name},
        "subject": body.subject,
        "content": [
            {"type": "text/plain", "value": body.text},
            {"type": "text/html", "value": html_part},
        ],
        "personalizations": [_personalization(m, names) for m in messages],
        "tracking_settings": NO_TRACKING,
        "mail_settings": {"sandbox_mode": {"enable": sandbox}},
    }
    if body.reply_to:
        data["reply_to"] = {"email": body.reply_to}
    # Attachments are not substituted per personalization: an invitation names its attendee,
    # so messages are grouped by their filled attachments (see send).
    attachments = messages[0].attachments if messages else body.attachments
    if attachments:
        data["attachments"] = [
            {
                "content": base64.b64encode(a.data).decode("ascii"),
                "type": a.content_type,
                "filename": a.filename,
                "disposition": "attachment",
            }
            for a in attachments
        ]
    return data


def _personalization(message: OutgoingMessage, names: set[str]) -> dict[str, object]:
    person: Mapping[str, str] = dict(message.person)
    substitutions: dict[str, str] = {}
    for name in sorted(names):
        value = person.get(name, "")
        substitutions[f"%%mailer:{name}%%"] = value
        substitutions[html_tag(name)] = escape(value)
    to = {"email": message.to_email}
    if message.to_name:
        to["name"] = message.to_name
    entry: dict[str, object] = {"to": [to], "custom_args": {"mailer_key": message.key}}
    if substitutions:
        entry["substitutions"] = substitutions
    if message.headers:
        entry["headers"] = dict(message.headers)
    return entry


class SendgridTransport(TransportBase):
    name = "sendgrid"
    batch_size = PER_REQUEST

    def __init__(
        self,
        settings: SendgridSettings,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        key = read_secret(KEY_VARIABLE, environ)
        if not key:
            raise ConfigError(
                f'[transport] backend = "sendgrid" needs {KEY_VARIABLE} '
                f"(or {KEY_VARIABLE}_FILE) in the environment"
            )
        self.settings = settings
        self.client = SendGridAPIClient(api_key=key, host=settings.host.rstrip("/"))
        # The SDK waits forever by default; an answer that never comes must end.
        self.client.client.timeout = settings.timeout
        self.sleep = sleep
        self.clock = clock
        self.requests = 0

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        for _, shared in groupby(messages, key=lambda m: (m.body_id, m.attachments)):
            group = list(shared)
            for start in range(0, len(group), PER_REQUEST):
                yield from self._send_group(group[start : start + PER_REQUEST])

    def _send_group(self, messages: list[OutgoingMessage]) -> Iterator[SendResult]:
        body = messages[0].body
        if body is None:
            raise TransportError("a message reached SendGrid without its body")
        try:
            response = self._post(payload(body, messages, self.settings.sandbox))
        except Unanswered as err:
            for m in messages:
                yield SendResult(m.key, UNKNOWN, reason=str(err))
            return
        except Paused as err:
            for m in messages:
                yield SendResult(
                    m.key, PAUSE, reason=err.reason, resume_at=err.resume_at, quota=err.quota
                )
            return
        except Retry as err:
            # Retries ran out; a rate limit that named its reset is a pause until then.
            resume_at = err.resume_at if isinstance(err, RateLimited) else None
            state = PAUSE if resume_at else RETRY
            for m in messages:
                yield SendResult(m.key, state, reason=err.reason, resume_at=resume_at)
            return
        except http.PayloadTooLargeError:
            if len(messages) == 1:
                yield SendResult(messages[0].key, FAILED, reason="413 message too large")
                return
            half = len(messages) // 2
            yield from self._send_group(messages[:half])
            yield from self._send_group(messages[half:])
            return
        except http.HTTPError as err:
            yield from self._rejected(messages, err)
            return
        if self.settings.sandbox:
            for m in messages:
                yield SendResult(m.key, RETRY, reason=SANDBOX_REASON)
            return
        provider_id = response.headers.get("X-Message-Id", "") if response.headers else ""
        for m in messages:
            yield SendResult(m.key, SENT, provider_id=provider_id)

    def _rejected(
        self, messages: list[OutgoingMessage], err: http.HTTPError
    ) -> Iterator[SendResult]:
        """A 4xx other than 401/403/413/429: fail what SendGrid names, send the rest again."""
        errors = _errors(err)
        named: dict[int, str] = {}
        for message, field in errors:
            match = PERSONALIZATION.match(field)
            if match and int(match.group(1)) < len(messages):
                named.setdefault(int(match.group(1)), f"{err.status_code} {field}: {message}")
        if not named or len(named) == len(messages):
            reason = "; ".join(
                f"{field}: {message}" if field else message for message, field in errors
            )
            for m in messages:
                yield SendResult(m.key, FAILED, reason=f"{err.status_code} {reason}".strip())
            return
        for index, reason in sorted(named.items()):
            yield SendResult(messages[index].key, FAILED, reason=reason)
        rest = [m for i, m in enumerate(messages) if i not in named]
        yield from self._send_group(rest)

    def _post(self, data: dict[str, object]) -> Response:
        wait = float(self.settings.max_wait)
        return with_retries(lambda: self._post_once(data), ATTEMPTS, wait, wait, self.sleep)

    def _post_once(self, data: dict[str, object]) -> Response:
        self.requests += 1
        try:
            return self.client.client.mail.send.post(
                request_body=data, timeout=self.settings.timeout
            )
        except (http.UnauthorizedError, http.ForbiddenError) as err:
            if CREDITS in _summary(err).lower():
                # A plan's daily credits are spent (the free plan: 100 a day).
                raise Paused(f"{err.status_code} {_summary(err)}", quota=True) from None
            raise TransportError(
                f"SendGrid refused the request ({err.status_code} {_summary(err)}): "
                f"check {KEY_VARIABLE} (a key with Mail Send permission) and the sender "
                "identity; nothing more was sent"
            ) from None
        except http.TooManyRequestsError as err:
            raise self._rate_limited(err) from None
        except http.HTTPError as err:
            if err.status_code >= 500:
                raise Retry(f"{err.status_code} SendGrid server error") from None
            raise
        except urllib.error.URLError as err:
            # urllib wraps what fails before the request is out (no connection, refused).
            raise Retry(f"cannot reach SendGrid: {err.reason}") from None
        except (OSError, HTTPException) as err:
            # Raised while waiting for the answer: the request may have been accepted.
            raise Unanswered(
                f"no answer from SendGrid ({err or 'timed out'});"
                " it may have been accepted, so it is not sent again"
            ) from None

    def _rate_limited(self, err: http.HTTPError) -> Exception:
        """Wait out a short rate limit; pause until a longer one resets."""
        reset = _header(err, "X-RateLimit-Reset").strip()
        if not re.fullmatch(r"[0-9]{1,18}", reset):  # ASCII digits: str.isdigit takes "²"
            return Retry("429 rate limited by SendGrid")
        # A reset years away is a pause of a day, then SendGrid is asked again (see pacing).
        wait = min(float(reset) - self.clock(), LONGEST_PAUSE.total_seconds())
        resume_at = datetime.fromtimestamp(self.clock() + wait, UTC)
        if wait > self.settings.max_wait:
            return Paused("429 rate limited by SendGrid", resume_at)
        log.info("SendGrid rate limit reached; waiting %.0f s", wait)
        return RateLimited("429 rate limited by SendGrid", wait, resume_at)


def _header(err: http.HTTPError, name: str) -> str:
    headers = getattr(err, "headers", None)
    return (headers.get(name) or "") if headers is not None else ""


def _errors(err: http.HTTPError) -> list[tuple[str, str]]:
    """(message, field) pairs from a SendGrid error body."""
    try:
        data = json.loads(err.body)
        return [(e.get("message", ""), e.get("field") or "") for e in data.get("errors", [])]
    except (ValueError, TypeError, AttributeError):
        return [(str(err.reason), "")]


def _summary(err: http.HTTPError) -> str:
    return "; ".join(message for message, _ in _errors(err)) or str(err.reason)


def build(settings: Settings) -> SendgridTransport:
    """`[transport] backend = "sendgrid"`: `[transport.sendgrid]`, the key from SENDGRID_API_KEY."""
    return SendgridTransport(settings.transport.sendgrid)
