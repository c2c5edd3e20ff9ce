"""The organizer's spreadsheet, behind one small interface."""

from __future__ import annotations

from mailer.settings.config import Settings
from mailer.sheet.workbook import CellChange, Table, Workbook, WritePlan

__all__ = ["CellChange", "Table", "Workbook", "WritePlan", "open_workbook"]


def open_workbook(settings: Settings) -> Workbook:
    """The workbook backend mailer.toml names."""
    if settings.workbook.backend == "csv":
        from mailer.sheet.csv_files import CsvWorkbook

        return CsvWorkbook(settings.workbook.path, settings.workbook.date_order)
    from mailer.sheet.google import GoogleWorkbook

    return GoogleWorkbook.from_settings(settings)
