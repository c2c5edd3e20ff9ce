"""One site's pieces, built from its mailer.toml: workbook, transport, templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailer.config import Settings
from mailer.forms import FormsClient, open_forms
from mailer.render import Renderer
from mailer.transports import Transport, open_transport
from mailer.workbook import Workbook, open_workbook


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
            renderer=Renderer(settings.root / "templates"),
            forms=open_forms(settings) if settings.form.id else None,
        )

    @property
    def ledger_path(self) -> Path:
        return self.settings.ledger.path
