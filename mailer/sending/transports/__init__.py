"""Where messages go: one small interface, one module per transport."""

from __future__ import annotations

from mailer.sending.pacing import Limits
from mailer.sending.transports.base import Transport
from mailer.settings.config import Settings

__all__ = ["Transport", "limits", "open_transport"]


def open_transport(settings: Settings) -> Transport:
    """The transport mailer.toml names, with its settings checked now rather than mid-send."""
    transport = _build(settings)
    transport.limits = limits(settings)
    return transport


def limits(settings: Settings) -> Limits:
    """`[transport] daily_limit` and `per_minute`."""
    return Limits(settings.transport.daily_limit, settings.transport.per_minute)


def _build(settings: Settings) -> Transport:
    if settings.transport.backend == "outbox":
        from mailer.sending.transports.outbox import OutboxTransport

        return OutboxTransport(settings.transport.path)
    if settings.transport.backend == "smtp":
        from mailer.sending.transports.smtp import SmtpTransport

        return SmtpTransport(settings.transport.smtp)
    from mailer.sending.transports.sendgrid import SendgridTransport

    return SendgridTransport(settings.transport.sendgrid)
