"""SMTP delivery: one connection per batch, reopened when the server drops it.

Per recipient, a 5xx reply fails the message for good (550-class replies about
the mailbox also suppress the address), a 4xx reply leaves it for a later run.
The password comes from SMTP_PASSWORD and is never logged.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence

from mailer.config import SmtpSettings
from mailer.errors import ConfigError, TransportError
from mailer.message import FAILED, RETRY, SENT, OutgoingMessage, SendResult
from mailer.mime import message_id, mime_bytes
from mailer.transports.base import TransportBase

log = logging.getLogger("mailer.smtp")
PASSWORD_VARIABLE = "SMTP_PASSWORD"
# Replies that say the mailbox itself is wrong; anything else 5xx fails only this message.
BOUNCE_CODES = {550, 551, 553}
NETWORK_ERRORS = (smtplib.SMTPServerDisconnected, OSError)


def describe(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}".strip()


class SmtpTransport(TransportBase):
    name = "smtp"
    batch_size = 500

    def __init__(self, settings: SmtpSettings, environ: Mapping[str, str] | None = None):
        self.settings = settings
        self.password = (os.environ if environ is None else environ).get(PASSWORD_VARIABLE, "")
        if settings.username and not self.password:
            raise ConfigError(
                f"[transport.smtp] username is set but {PASSWORD_VARIABLE} is not; "
                "export the SMTP password in the environment"
            )
        self._connection: smtplib.SMTP | None = None
        self.connections = 0

    def _tls_context(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def open(self) -> bool:
        if self._connection is not None:
            return False
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
        except smtplib.SMTPAuthenticationError as err:
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
        return True

    def close(self) -> None:
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
            assert self._connection is not None
            try:
                self._connection.sendmail(message.sender_email, [message.to_email], data)
                return SendResult(message.key, SENT, provider_id=message_id(message))
            except smtplib.SMTPRecipientsRefused as err:
                code, reply = err.recipients[message.to_email]
                self._drop_if_closed()
                return self._refused(message, code, reply, about_address=True)
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as err:
                self._drop_if_closed()
                return self._refused(message, err.smtp_code, err.smtp_error)
            except NETWORK_ERRORS:
                # The server dropped the line (idle timeout, a per-connection limit):
                # open a new one and try this message once more.
                self._drop()
                if attempt == 2:
                    return SendResult(message.key, RETRY, reason="SMTP connection lost")
        raise AssertionError("unreachable")

    def _refused(
        self, message: OutgoingMessage, code: int, reply: bytes | str, about_address: bool = False
    ) -> SendResult:
        reason = describe(code, reply)
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
