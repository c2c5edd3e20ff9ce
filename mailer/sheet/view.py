"""The workbook as the code names it: logical tabs and columns, translated in one place.

Callers say `signups` and `status`; mailer.toml says which tab and which
header those are on this site (`[workbook.tabs]`, `[workbook.columns.<tab>]`).
A `Sheet` reads tabs by logical name and hands back `Tab`s that find cells,
make changes and write by logical column, so no caller looks up a header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from mailer.settings.config import WorkbookSettings
from mailer.sheet.workbook import CellChange, StreamingWorkbook, Table, Workbook, WritePlan


@dataclass(frozen=True)
class Tab:
    """One tab as read, spoken to by logical column names (`status`, not the header 'Status')."""

    name: str  # the logical name: "signups", "events", ...
    table: Table
    columns: dict[str, str]  # logical column -> the header this site gives it

    def header(self, column: str) -> str:
        return self.columns[column]

    def index(self, column: str) -> int | None:
        """Where the column is in the tab as read; None when the tab has no such column."""
        return self.table.column_index(self.columns[column])

    def cell(self, values: list[str], column: str) -> str:
        return self.table.cell(values, self.index(column))

    def keep_only(self, columns: Sequence[str]) -> None:
        """Blank every cell but those of `columns`, in place: what is still read of the rows.

        The rows keep their shape, so each cell left is where the header says;
        the others (names, answers) of a large tab are not held for the rest of a run.
        """
        kept = {index for column in columns if (index := self.index(column)) is not None}
        for values in self.table.rows:
            for index in range(len(values)):
                if index not in kept:
                    values[index] = ""

    def without_rows(self) -> Tab:
        """The tab's name, header and columns without its rows: enough to write to it."""
        table = Table(self.table.tab, self.table.header, [], date_order=self.table.date_order)
        return Tab(self.name, table, self.columns)

    def change(self, row: int, key: tuple[str, ...], column: str, old: str, new: str) -> CellChange:
        """Set `column` of the row read at `row` holding `key`, if it still holds `old`."""
        return CellChange(row, key, self.columns[column], old, new)


class Sheet:
    """A workbook read and written by logical tab and column names."""

    def __init__(self, workbook: Workbook, settings: WorkbookSettings):
        self.workbook = workbook
        self.settings = settings

    def tab_name(self, tab: str) -> str:
        """The name the workbook gives logical tab `tab`."""
        return self.settings.tab(tab)

    def header(self, tab: str, column: str) -> str:
        """The header this site gives `column` of logical tab `tab`."""
        return self.settings.column_map(tab)[column]

    def read(self, tabs: Sequence[str]) -> dict[str, Tab]:
        """Every tab named, in one read, by logical name; tabs the workbook lacks are left out."""
        names = {tab: self.tab_name(tab) for tab in tabs}
        found = self.workbook.read(list(names.values()))
        return {
            tab: Tab(tab, found[name], self.settings.column_map(tab))
            for tab, name in names.items()
            if name in found
        }

    def read_streaming(
        self, tabs: Sequence[str], streamed: str
    ) -> tuple[dict[str, Tab], Iterator[tuple[int, list[str]]]]:
        """As `read`, with the data rows of tab `streamed` handed over as they are read.

        Where the workbook can stream (a CSV folder), that tab's Tab holds its
        header and no rows, and the rows come from the file as they are taken,
        so a large tab is never held whole; elsewhere (one request brings every
        tab) they are the rows read. Take every row before writing to the tab.
        """
        if not isinstance(self.workbook, StreamingWorkbook) or streamed not in tabs:
            found = self.read(tabs)
            return found, iter(found[streamed].table.numbered_rows() if streamed in found else ())
        found = self.read([t for t in tabs if t != streamed])
        stream = self.workbook.stream(self.tab_name(streamed))
        if stream is None:
            return found, iter(())
        table, rows = stream
        found[streamed] = Tab(streamed, table, self.settings.column_map(streamed))
        return found, rows

    def write(
        self,
        tab: Tab,
        key_columns: Sequence[str],
        changes: Sequence[CellChange],
        columns: Sequence[str] = (),
    ) -> WritePlan:
        """Write changes made with `tab.change`; rows are found again by `key_columns`.

        `columns` are the columns mailer owns in the tab: added when missing.
        """
        return self.workbook.write(
            tab.table.tab,
            [tab.header(c) for c in key_columns],
            changes,
            columns=[tab.header(c) for c in columns],
        )

    def append(self, tab: Tab, records: Sequence[Mapping[str, str]]) -> int:
        """Add rows after the last, each given by logical column; returns how many."""
        rows = [{tab.header(column): value for column, value in r.items()} for r in records]
        return self.workbook.append(tab.table.tab, rows)
