"""The workbook interface: tabs of rows read by header, cell changes written by row identity."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


def normalize_header(text: str) -> str:
    """Headers match with case and white space ignored."""
    return "".join(str(text).split()).casefold()


@dataclass
class Table:
    """One tab as read: its header and data rows; rows[i] is sheet row i + 2."""

    tab: str
    header: list[str]
    rows: list[list[str]]
    broken: dict[int, str] = field(default_factory=dict)  # sheet row -> why it cannot be trusted
    date_order: str = ""  # how the sheet writes 9/12/2026: "DMY", "MDY", or "" when unknown

    def column_index(self, header_text: str) -> int | None:
        wanted = normalize_header(header_text)
        for index, text in enumerate(self.header):
            if normalize_header(text) == wanted:
                return index
        return None

    def cell(self, row_values: list[str], index: int | None) -> str:
        if index is None or index >= len(row_values):
            return ""
        return row_values[index]

    def numbered_rows(self) -> Iterable[tuple[int, list[str]]]:
        """Each data row with its sheet row number (the header is row 1)."""
        for offset, values in enumerate(self.rows):
            yield offset + 2, values


@dataclass(frozen=True, slots=True)
class CellChange:
    """Set one cell of a row that was read at `row` holding `key` in the identity columns.

    `old` is what the cell held when read: if someone changed it since, the
    change is skipped, so an organizer's edit is never overwritten.
    """

    row: int
    key: tuple[str, ...]
    column: str
    old: str
    new: str


@dataclass(frozen=True)
class Skipped:
    row: int
    column: str
    reason: str


@dataclass
class WritePlan:
    """What a write will do to the tab as it is now."""

    new_columns: list[str] = field(default_factory=list)
    cells: list[tuple[int, int, str]] = field(default_factory=list)  # (sheet row, col index, value)
    skipped: list[Skipped] = field(default_factory=list)
    written: int = 0  # cells set; a CSV write sets them as it places them, keeping no `cells`


class Workbook(Protocol):
    def describe(self) -> str:
        """Where the workbook is, for people: "Google Sheet <key>", "CSV workbook lists/"."""

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        """Read these tabs; a tab that does not exist is absent from the answer."""

    def write(
        self,
        tab: str,
        key_columns: Sequence[str],
        changes: Sequence[CellChange],
        columns: Sequence[str] = (),
    ) -> WritePlan:
        """Apply changes to rows found by identity.

        Missing columns are added at the right, those named in `columns` first, in that order.
        """

    def append(self, tab: str, records: Sequence[dict[str, str]]) -> int:
        """Add rows after the last row, each a {header: value}; returns how many were added."""

    def replace(self, tab: str, rows: Sequence[Sequence[str]], height: int = 0) -> None:
        """Write a tab mailer alone owns, whole; created when missing.

        Rows below `rows`, up to `height` (how many it wrote last time), are blanked.
        """


@runtime_checkable
class StreamingWorkbook(Protocol):
    """A workbook that can hand over a large tab's rows as it reads them (the CSV folder)."""

    def stream(self, tab: str) -> tuple[Table, Iterator[tuple[int, list[str]]]] | None: ...


def plan_writes(
    current: Table,
    key_columns: Sequence[str],
    changes: Sequence[CellChange],
    columns: Sequence[str] = (),
) -> WritePlan:
    """Match each change to the row that holds its identity now, wherever it moved."""
    plan = WritePlan()
    plan.cells = list(place_changes(current, key_columns, changes, columns, plan))
    plan.written = len(plan.cells)
    return plan


def column_indexes(current: Table, names: Iterable[str], plan: WritePlan) -> dict[str, int]:
    """Where each named column is; one the tab lacks goes at the right, in `plan.new_columns`."""
    header = list(current.header)
    indexes: dict[str, int] = {}
    for name in names:
        if name in indexes:
            continue
        index = Table(current.tab, header, []).column_index(name)
        if index is None:
            index = len(header)
            header.append(name)
            plan.new_columns.append(name)
        indexes[name] = index
    return indexes


def place_changes(
    current: Table,
    key_columns: Sequence[str],
    changes: Sequence[CellChange],
    columns: Sequence[str],
    plan: WritePlan,
) -> Iterator[tuple[int, int, str]]:
    """Each change that can be placed, as (sheet row, col index, value), one at a time.

    Columns the tab lacks go to `plan.new_columns` before the first; changes
    that cannot be placed go to `plan.skipped`.
    """
    indexes = column_indexes(current, [*columns, *(c.column for c in changes)], plan)
    key_indexes = [current.column_index(name) for name in key_columns]
    rows_by_key: dict[tuple[str, ...], int | list[int]] = {}  # a list only for a key held twice
    for number, values in current.numbered_rows():
        key = tuple(current.cell(values, i).strip() for i in key_indexes)
        held = rows_by_key.setdefault(key, number)
        if held != number:
            rows_by_key[key] = [*held, number] if isinstance(held, list) else [held, number]

    for change in changes:
        found = rows_by_key.get(tuple(k.strip() for k in change.key), [])
        candidates = found if isinstance(found, list) else [found]
        if not candidates:
            plan.skipped.append(Skipped(change.row, change.column, "row moved or deleted"))
            continue
        row = change.row if change.row in candidates else candidates[0]
        if len(candidates) > 1 and change.row not in candidates:
            plan.skipped.append(Skipped(change.row, change.column, "row is not unique"))
            continue
        col = indexes[change.column]
        now_value = current.cell(current.rows[row - 2], col)
        if now_value.strip() != change.old.strip():
            plan.skipped.append(Skipped(change.row, change.column, "changed since it was read"))
            continue
        yield row, col, change.new


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def plain_text_cell(value: str) -> str:
    """A value a spreadsheet will show as text, never run as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def as_meant(cell: str) -> str:
    """The value behind a cell written with plain_text_cell: its guarding quote taken off."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell
