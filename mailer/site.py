"""One site's pieces, built from its mailer.toml: workbook, transport, templates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mailer.sending.transports import Transport, open_transport
from mailer.settings.config import Settings
from mailer.settings.languages import locales_folder
from mailer.settings.secret import site_secret
from mailer.sheet.backends import Workbook, open_workbook
from mailer.sheet.view import Sheet

if TYPE_CHECKING:
    from mailer.mail.render import Renderer
    from mailer.sheet.google_form import FormsClient


class Site:
    def __init__(
        self,
        settings: Settings,
        workbook: Workbook,
        transport: Transport,
        renderer: Renderer | None = None,
        forms: FormsClient | None = None,  # the signup form, when [form] names one
    ):
        self.settings = settings
        self.workbook = workbook
        self.transport = transport
        self._renderer = renderer
        self.forms = forms

    @classmethod
    def from_settings(cls, settings: Settings) -> Site:
        return cls(
            settings=settings,
            workbook=open_workbook(settings),
            transport=open_transport(settings),
            forms=_forms(settings) if settings.form.id else None,
        )

    @property
    def renderer(self) -> Renderer:
        """The site's templates (site_renderer), made when an email is first rendered.

        Most runs render nothing; Jinja, MRML and the catalogs load only then.
        """
        if self._renderer is None:
            self._renderer = site_renderer(self.settings)
        return self._renderer

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
    from mailer.mail.catalogs import Catalogs
    from mailer.mail.render import Renderer

    catalogs = Catalogs(locales_folder(settings), settings.organization.language)
    return Renderer(settings.root / "templates", catalogs)
