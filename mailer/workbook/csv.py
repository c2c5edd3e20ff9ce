"""The local workbook: a folder holding one `<tab>.csv` per tab."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from mailer.errors import WorkbookError
from mailer.files import atomic_write
from mailer.workbook.base import CellChange, Table, WritePlan, plain_text_cell, plan_writes

BOM = "\ufeff"


class CsvWorkbook:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def describe(self) -> str:
        return f"CSV workbook {self.folder}"

    def path(self, tab: str) -> Path:
        return self.folder / f"{tab}.csv"

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        if not self.folder.is_dir():
            raise WorkbookError(f"workbook folder {self.folder} does not exist (run `mailer init`)")
        found = {}
        for tab in tabs:
            path = self.path(tab)
            if path.exists():
                found[tab] = self._load(tab, path)[0]
        return found

    def write(
        self,
        tab: str,
        key_columns: Sequence[str],
        changes: Sequence[CellChange],
        columns: Sequence[str] = (),
    ) -> WritePlan:
        if not changes:
            return WritePlan()
        path = self.path(tab)
        table, style = self._load(tab, path)
        plan = plan_writes(table, key_columns, changes, columns)
        if not plan.cells:
            return plan
        header = table.header + plan.new_columns
        rows = [list(r) for r in table.rows]
        for row, col, value in plan.cells:
            values = rows[row - 2]
            values.extend([""] * (col + 1 - len(values)))
            values[col] = plain_text_cell(value)
        self._save(path, [header, *rows], style)
        return plan

    def _load(self, tab: str, path: Path) -> tuple[Table, dict]:
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise WorkbookError(f"cannot read tab {tab!r} ({path}): {err.strerror}") from err
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WorkbookError(
                f"tab {tab!r} ({path}) is not UTF-8 text; save it as 'CSV UTF-8'"
            ) from None
        style = {"bom": text.startswith(BOM), "newline": "\r\n" if "\r\n" in text else "\n"}
        records = list(csv.reader(io.StringIO(text.removeprefix(BOM), newline="")))
        header = records[0] if records else []
        return Table(tab, header, records[1:]), style

    def _save(self, path: Path, records: list[list[str]], style: dict) -> None:
        buffer = io.StringIO(newline="")
        if style["bom"]:
            buffer.write(BOM)
        csv.writer(buffer, lineterminator=style["newline"]).writerows(records)
        atomic_write(path, buffer.getvalue().encode("utf-8"))
