"""A tab's logical fields found by header text: what every reader of a tab checks first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.core.errors import MissingColumnError
from mailer.core.text import clean_text
from mailer.settings.schema import DEFAULT_COLUMNS

if TYPE_CHECKING:
    from mailer.sheet.workbook import Table


def mapping_section(mapping: dict[str, str]) -> str:
    """The mailer.toml section that maps this tab's columns: its fields are the tab's own."""
    tabs = [tab for tab, fields in DEFAULT_COLUMNS.items() if fields.keys() == mapping.keys()]
    return f"[workbook.columns.{tabs[0]}]" if len(tabs) == 1 else "[workbook.columns.<tab>]"


class Columns:
    """Finds a tab's logical fields by header text; required ones must be there."""

    def __init__(self, table: Table, mapping: dict[str, str], required: tuple[str, ...]):
        self.table = table
        self.mapping = mapping
        self.index = {name: table.column_index(text) for name, text in mapping.items()}
        for name in required:
            if self.index[name] is None:
                raise MissingColumnError(
                    table.tab, mapping[name], table.header, f"{mapping_section(mapping)} {name}"
                )

    def get(self, values: list[str], name: str) -> str:
        return str(self.table.cell(values, self.index[name]))

    def header(self, name: str) -> str:
        return self.mapping[name]

    def text(self, values: list[str], name: str) -> str:
        """The cell as one clean line, or "" when the tab has no such column."""
        return clean_text(self.get(values, name)) if self.index.get(name) is not None else ""
