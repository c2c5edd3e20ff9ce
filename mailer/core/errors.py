"""The errors mailer raises on purpose, each carrying what a person needs to act."""

from __future__ import annotations


class ConfigError(Exception):
    """A settings file or the environment is wrong; never retried, never swallowed."""


class MailerError(Exception):
    """Base of the errors a run can meet and report."""


class WorkbookError(MailerError):
    """The workbook cannot be read or written as configured."""


class MissingColumnError(WorkbookError):
    """A required column is not in the tab; says which mailer.toml key maps it."""

    def __init__(self, tab: str, column: str, header: list[str], key: str = ""):
        self.tab = tab
        self.column = column
        found = ", ".join(repr(h) for h in header if h.strip()) or "no columns"
        where = key or "[workbook.columns.<tab>] <field>"
        super().__init__(
            f"tab {tab!r} has no column {column!r} (found: {found}); "
            f'add it, or map it in mailer.toml: {where} = "<your header>"'
        )


class LedgerError(MailerError):
    """The ledger file cannot be used as it is."""


class LockedError(MailerError):
    """Another run holds the ledger."""


class TransportError(MailerError):
    """A transport could not deliver and the run cannot go on."""
