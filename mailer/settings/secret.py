"""The site's secret, which signs unsubscribe and seat links: found in one place."""

from __future__ import annotations

from mailer.core.tokens import load_secret
from mailer.settings.site_file import Settings


def site_secret(settings: Settings) -> str:
    """MAILER_SECRET; with the outbox (nothing leaves the machine) one kept in the state folder."""
    return load_secret(settings.ledger.state_folder, settings.transport.backend == "outbox")
