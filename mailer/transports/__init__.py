"""Where messages go: one small interface, one module per transport."""

from __future__ import annotations

from mailer.config import Settings
from mailer.transports.base import Transport

__all__ = ["Transport", "open_transport"]


def open_transport(settings: Settings) -> Transport:
    """The transport mailer.toml names, with its settings checked now rather than mid-send."""
    if settings.transport.backend == "outbox":
        from mailer.transports.outbox import OutboxTransport

        return OutboxTransport(settings.transport.path)
    if settings.transport.backend == "smtp":
        from mailer.transports.smtp import SmtpTransport

        return SmtpTransport(settings.transport.smtp)
    from mailer.transports.sendgrid import SendgridTransport

    return SendgridTransport(settings.transport.sendgrid)
