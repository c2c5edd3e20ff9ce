"""SMTP delivery: one connection per batch, reopened when the server drops it.

Per recipient, a 5xx reply fails the message for good (550-class replies about
the mailbox also suppress the address), a 4xx reply about the mailbox leaves it
for a later run. A reply that means "not now" (421, 450-452, 4.7.x, a spent
quota) pauses sending instead. A connection lost after the message's DATA went
out leaves the message unknown: the server may have taken it. The password
comes from SMTP_PASSWORD and is never logged.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence

from mailer.core.env_secrets import SMTP_PASSWORD, read_secret
from mailer.core.errors import ConfigError, TransportError
from mailer.mail.message import FAILED, PAUSE, RETRY, SENT, UNKNOWN, OutgoingMessage, SendResult
from mailer.mail.mime import message_id, mime_bytes
from mailer.sending.transports.base import TransportBase
from mailer.settings.config import Settings, SmtpSettings

log = logging.getLogger("mailer.smtp")
PASSWORD_VARIABLE = SMTP_PASSWORD
# Replies that say the mailbox itself is wrong; anything else 5xx fails only this message.
BOUNCE_CODES = {550, 551, 553}
NETWORK_ERRORS = (smtplib.SMTPServerDisconnected, OSError)
# "Not now" replies: the server or the account, not this address (RFC 5321 4.2.2).
NOT_NOW_CODES = {421, 450, 451, 452}
ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# Gmail's "550 5.4.5 Daily user sending quota exceeded": a 5xx that means "not today".
QUOTA = re.compile(r"\bquota\b", re.IGNORECASE)
# An address as RFC 5321 sends it bare (a dot-atom at a dot-atom): <address>, exactly what
# smtplib.quoteaddr makes of it after parsing it as a header; anything else goes to quoteaddr.
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_ADDRESS = re.compile(rf"{ATOM}(?:\.{ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def describe(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}".strip()


class _NotNow(Exception):
    """The server will not take mail from us for now (a 421 greeting, a 454 login)."""


class LostAfterData(Exception):
    """The line broke after the message's DATA went out: the server may have taken it."""


def not_now(code: int, text: str, about_address: bool) -> bool:
    """Whether a reply means "try later" for the whole account rather than this message."""
    enhanced = ENHANCED.search(text)
    if enhanced and enhanced.group(2) == "7" and code < 500:
        return True
    if code in NOT_NOW_CODES:
        # 450 4.2.1 "mailbox busy" at RCPT is about one recipient, not the account.
        return not (about_address and enhanced and enhanced.group(2) in ("1", "2"))
    return is_quota(code, text)


def is_quota(code: int, text: str) -> bool:
    enhanced = ENHANCED.search(text)
    return bool(QUOTA.search(text)) or (enhanced is not None and enhanced.group(0) == "5.4.5")


class SmtpTransport(TransportBase):
    name = "smtp"
    # One message per send() call: each is looked up against the suppression list and
    # committed as sending right before it goes, so a kill leaves at most one unknown.
    batch_size = 1

    def __init__(self, settings: SmtpSettings, environ: Mapping[str, str] | None = None):
        self.settings = settings
        self.password = read_secret(PASSWORD_VARIABLE, environ)
        if settings.username and not self.password:
            raise ConfigError(
                f"[transport.smtp] username is set but {PASSWORD_VARIABLE} is not; "
                f"export the SMTP password in the environment (or {PASSWORD_VARIABLE}_FILE)"
            )
        self._connection: smtplib.SMTP | None = None
        self._not_now = ""  # why the server would not take mail at all for now
        self.connections = 0

    def _tls_context(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def open(self) -> bool:
        """Connect, unless connected; True when this call connected.

        A server that says "not now" leaves it unconnected: Gmail greets with
        421 4.7.0 or refuses a login with 454 4.7.0 when too much came too fast,
        and each message then pauses instead of failing the run.
        """
        if self._connection is not None or self._not_now:
            return False
        try:
            self._connect()
        except _NotNow as err:
            self._not_now = str(err)
            return False
        return True

    def _connect(self) -> None:
        s = self.settings
        where = f"{s.host}:{s.effective_port}"
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.effective_port, timeout=s.timeout, context=self._tls_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, self.password)
        except smtplib.SMTPConnectError as err:
            reason = describe(err.smtp_code, err.smtp_error)
            if not_now(err.smtp_code, reason, about_address=False):
                raise _NotNow(reason) from None
            raise TransportError(f"SMTP server {where} refused the connection: {reason}") from None
        except smtplib.SMTPAuthenticationError as err:
            smtp.close()
            if 400 <= err.smtp_code < 500:
                raise _NotNow(describe(err.smtp_code, err.smtp_error)) from None
            raise TransportError(
                f"SMTP server {where} refused the login for {s.username!r} "
                f"({describe(err.smtp_code, err.smtp_error)}): check the username "
                f"and {PASSWORD_VARIABLE}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise TransportError(
                f"SMTP server {where} does not offer STARTTLS; "
                'use security = "ssl" or a server that encrypts'
            ) from None
        except ssl.SSLError as err:
            raise TransportError(f"TLS with SMTP server {where} failed: {err.reason}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise TransportError(f"cannot reach SMTP server {where}: {err}") from None
        self._connection = smtp
        self.connections += 1

    def close(self) -> None:
        self._not_now = ""
        smtp, self._connection = self._connection, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        for message in messages:
            yield self._send_one(message)

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        data = mime_bytes(message)
        for attempt in (1, 2):
            self.open()
            if self._connection is None:
                return SendResult(message.key, PAUSE, reason=self._not_now)
            try:
                transmit(self._connection, message.sender_email, message.to_email, data)
                return SendResult(message.key, SENT, provider_id=message_id(message))
            except smtplib.SMTPRecipientsRefused as err:
                code, reply = err.recipients[message.to_email]
                self._drop_if_closed()
                return self._refused(message, code, reply, about_address=True)
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as err:
                self._drop_if_closed()
                return self._refused(message, err.smtp_code, err.smtp_error)
            except LostAfterData as err:
                self._drop()
                return SendResult(message.key, UNKNOWN, reason=f"{err}: not sent again")
            except NETWORK_ERRORS:
                # The server dropped the line before the message went (idle timeout, a
                # per-connection limit): open a new one and try this message once more.
                self._drop()
                if attempt == 2:
                    return SendResult(message.key, RETRY, reason="SMTP connection lost")
        raise AssertionError("unreachable")

    def _refused(
        self, message: OutgoingMessage, code: int, reply: bytes | str, about_address: bool = False
    ) -> SendResult:
        reason = describe(code, reply)
        if not_now(code, reason, about_address):
            return SendResult(message.key, PAUSE, reason=reason, quota=is_quota(code, reason))
        if 400 <= code < 500:
            return SendResult(message.key, RETRY, reason=reason)
        bounced = about_address and code in BOUNCE_CODES
        return SendResult(message.key, FAILED, reason=reason, bounced=bounced)

    def _drop_if_closed(self) -> None:
        """smtplib closes the socket itself on a 421 reply; forget such a connection."""
        if self._connection is not None and self._connection.sock is None:
            self._connection = None

    def _drop(self) -> None:
        smtp, self._connection = self._connection, None
        if smtp is not None:
            smtp.close()


def transmit(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """smtplib's sendmail for one recipient, telling a line lost after DATA from one before.

    Refusals raise as sendmail's do (SMTPSenderRefused, SMTPRecipientsRefused,
    SMTPDataError), with the connection reset for the next message.
    """
    smtp.ehlo_or_helo_if_needed()
    size = f" size={len(data)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
    code, reply = smtp.docmd("mail", f"FROM:{envelope_address(sender)}{size}")
    if code != 250:
        _reset_or_close(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.docmd("rcpt", f"TO:{envelope_address(recipient)}")
    if code not in (250, 251):
        _reset_or_close(smtp, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = smtp.docmd("data")
    if code != 354:
        _reset_or_close(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    try:
        code, reply = _data(smtp, data)
    except NETWORK_ERRORS as err:
        raise LostAfterData(f"SMTP connection lost after the message was sent ({err})") from None
    if code != 250:
        _reset_or_close(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def envelope_address(address: str) -> str:
    """The address as MAIL FROM and RCPT TO give it, as smtplib.SMTP.mail and .rcpt do.

    A plain address needs none of quoteaddr's header parsing, which cost as much
    CPU as the rest of the envelope.
    """
    return f"<{address}>" if PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def _data(smtp: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
    """The message after a 354, dot-stuffed as smtplib.SMTP.data does, and the reply.

    A dot that starts a line is doubled (RFC 5321 4.5.2); the lines end in CRLF,
    so it follows a LF or starts the message. bytes.replace finds them several
    times faster than smtplib's multiline regex over a 16 KB message.
    """
    body = data.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    smtp.send(body + b".\r\n")
    return smtp.getreply()


def _reset_or_close(smtp: smtplib.SMTP, code: int) -> None:
    """As sendmail does: a 421 ends the session, anything else resets it for the next message."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def build(settings: Settings) -> SmtpTransport:
    """`[transport] backend = "smtp"`: `[transport.smtp]`, the password from SMTP_PASSWORD."""
    return SmtpTransport(settings.transport.smtp)
