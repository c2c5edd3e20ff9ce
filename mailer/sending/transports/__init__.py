"""Where messages go: one small interface, one module per transport, found by name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

from mailer.core.errors import ConfigError
from mailer.sending.pacing import Limits
from mailer.sending.transports.base import Transport
from mailer.settings.transports import TRANSPORTS

if TYPE_CHECKING:
    from mailer.settings.config import Settings

__all__ = ["Transport", "limits", "open_transport"]


class TransportModule(Protocol):
    def build(self, settings: Settings) -> Transport:
        """The transport, its settings checked now rather than halfway through a send."""
        ...


def open_transport(settings: Settings) -> Transport:
    """The transport mailer.toml names, with its settings checked now rather than mid-send."""
    name = settings.transport.backend
    if name not in TRANSPORTS:
        known = ", ".join(TRANSPORTS)
        raise ConfigError(f"[transport] backend: {name!r}: expected one of {known}")
    module = cast("TransportModule", importlib.import_module(TRANSPORTS[name]))
    transport = module.build(settings)
    transport.limits = limits(settings)
    return transport


def limits(settings: Settings) -> Limits:
    """`[transport] daily_limit` and `per_minute`."""
    return Limits(settings.transport.daily_limit, settings.transport.per_minute)
