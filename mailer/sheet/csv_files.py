"""The local workbook: a folder holding one `<tab>.csv` per tab."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mailer.core.errors import WorkbookError
from mailer.core.files import atomic_write
from mailer.sheet.workbook import CellChange, Table, WritePlan, plain_text_cell, plan_writes

BOM = "\ufeff"
MAX_FIELD = 100_000  # longer than any real cell; the csv module stops at 131,072


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
                found[tab] = self._load(tab, path).table
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
        loaded = self._load(tab, path)
        plan = plan_writes(loaded.table, key_columns, changes, columns)
        if not plan.cells:
            return plan
        header = loaded.table.header + plan.new_columns
        changed: dict[int, list[str]] = {}
        for row, col, value in plan.cells:
            values = changed.setdefault(row, list(loaded.table.rows[row - 2]))
            values.extend([""] * (col + 1 - len(values)))
            values[col] = plain_text_cell(value)
        self._save(path, loaded, header if plan.new_columns else None, changed)
        return plan

    def append(self, tab: str, records: Sequence[dict[str, str]]) -> int:
        """Add rows at the end of a tab, by header; returns how many were added."""
        path = self.path(tab)
        loaded = self._load(tab, path)
        header = loaded.table.header
        rows = []
        for record in records:
            values = [""] * len(header)
            for name, value in record.items():
                index = loaded.table.column_index(name)
                if index is not None:
                    values[index] = plain_text_cell(value)
            rows.append(values)
        if rows:
            self._save(path, loaded, None, {}, rows)
        return len(rows)

    def _load(self, tab: str, path: Path) -> _Loaded:
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
        bom = text.startswith(BOM)
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = list(io.StringIO(text.removeprefix(BOM), newline=""))
        records, sources = _records(lines)
        header = records[0] if records else []
        table = Table(tab, header, records[1:])
        table.broken = {
            number: reason
            for number, values in table.numbered_rows()
            if (reason := _broken(values, len(header), sources[number - 1]))
        }
        return _Loaded(table, sources, bom, newline)

    def _save(
        self,
        path: Path,
        loaded: _Loaded,
        header: list[str] | None,
        changed: dict[int, list[str]],
        appended: Sequence[list[str]] = (),
    ) -> None:
        """Write back: changed records anew, every other record exactly as it was read."""
        buffer = io.StringIO(newline="")
        if loaded.bom:
            buffer.write(BOM)
        writer = csv.writer(buffer, lineterminator=loaded.newline)
        for index, source in enumerate(loaded.sources):
            if index == 0 and header is not None:
                writer.writerow(header)
            elif index + 1 in changed:
                writer.writerow(changed[index + 1])
            else:
                buffer.write(source)
                if not source.endswith(("\n", "\r")):
                    buffer.write(loaded.newline)
        writer.writerows(appended)
        atomic_write(path, buffer.getvalue().encode("utf-8"))


@dataclass
class _Loaded:
    table: Table
    sources: list[str]  # each record's text as read, header first
    bom: bool
    newline: str


def _records(lines: list[str]) -> tuple[list[list[str]], list[str]]:
    """Parse records and keep each one's source text, so a write leaves the others alone."""
    records: list[list[str]] = []
    sources: list[str] = []
    reader = csv.reader(iter(lines))
    consumed = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:  # a field over the csv module's limit: keep the row, let it be judged
            record = ["x" * (MAX_FIELD + 1)]
        records.append(record)
        sources.append("".join(lines[consumed : reader.line_num]))
        consumed = reader.line_num
    return records, sources


def _broken(values: list[str], width: int, source: str) -> str:
    """Why a record cannot be trusted as one row, or ""."""
    if any(len(v) > MAX_FIELD for v in values):
        return f"a cell is over {MAX_FIELD:,} characters long"
    if source.count('"') % 2 or ("\n" in source.rstrip("\r\n") and len(values) != width):
        return (
            'has a stray quote (") or runs over several lines out of step with the header,'
            " so it may have swallowed the rows below it; nothing on those rows is changed"
            " until it is fixed"
        )
    if any(v.strip() for v in values[width:]):
        return (
            f"has {len(values)} cells but the header has {width} (a stray quote, or a comma"
            " outside quotes?); nothing on this row is changed until it is fixed"
        )
    return ""
