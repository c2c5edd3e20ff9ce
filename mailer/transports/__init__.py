"""Where messages go: one small interface, one module per transport."""

from __future__ import annotations

from mailer.config import Settings
from mailer.pacing import Limits
from mailer.transports.base import Transport

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
        from mailer.transports.outbox import OutboxTransport

        return OutboxTransport(settings.transport.path)
    if settings.transport.backend == "smtp":
        from mailer.transports.smtp import SmtpTransport

        return SmtpTransport(settings.transport.smtp)
    from mailer.transports.sendgrid import SendgridTransport

    return SendgridTransport(settings.transport.sendgrid)
