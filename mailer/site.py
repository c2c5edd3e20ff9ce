"""One site's pieces, built from its mailer.toml: workbook, transport, templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.mail.catalogs import Catalogs
from mailer.mail.render import Renderer
from mailer.sending.transports import Transport, open_transport
from mailer.settings.config import Settings
from mailer.settings.languages import locales_folder
from mailer.settings.secret import site_secret
from mailer.sheet.backends import Workbook, open_workbook
from mailer.sheet.view import Sheet

if TYPE_CHECKING:
    from mailer.sheet.google_form import FormsClient


@dataclass
class Site:
    settings: Settings
    workbook: Workbook
    transport: Transport
    renderer: Renderer
    forms: FormsClient | None = None  # the signup form, when [form] names one

    @classmethod
    def from_settings(cls, settings: Settings) -> Site:
        return cls(
            settings=settings,
            workbook=open_workbook(settings),
            transport=open_transport(settings),
            renderer=site_renderer(settings),
            forms=_forms(settings) if settings.form.id else None,
        )

    @property
    def state(self) -> Path:
        """The folder for what is not in the ledger: the local secret, caches, the heartbeat."""
        return self.settings.ledger.state_folder

    def secret(self) -> str:
        """MAILER_SECRET, or (when nothing leaves the machine) one kept in the state folder."""
        return site_secret(self.settings)

    @property
    def sheet(self) -> Sheet:
        """The workbook by logical tab and column names."""
        return Sheet(self.workbook, self.settings.workbook)


def _forms(settings: Settings) -> FormsClient:
    """The signup form's client: only a site with `[form] id` imports the Forms code."""
    from mailer.sheet.google_form import open_forms

    return open_forms(settings)


def site_renderer(settings: Settings) -> Renderer:
    """The site's templates, speaking every language it has a catalog for."""
    catalogs = Catalogs(locales_folder(settings), settings.organization.language)
    return Renderer(settings.root / "templates", catalogs)
