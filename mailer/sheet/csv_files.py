"""The local workbook: a folder holding one `<tab>.csv` per tab.

Each file is read as people save it: UTF-8 (with or without the BOM Excel
adds) or Windows-1252 (Excel's "CSV (Comma delimited)" on Windows), with `,`,
`;` (Excel where the decimal mark is a comma) or tab separators. Writes go
back in the file's own encoding and separator, and every record mailer did
not change is written back byte for byte as it was read.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import IO

from mailer.core.batches import batches
from mailer.core.errors import WorkbookError
from mailer.core.files import atomic_write
from mailer.sheet.workbook import (
    CellChange,
    Skipped,
    Table,
    WritePlan,
    column_indexes,
    place_changes,
    plain_text_cell,
)

BOM = "\ufeff"
MAX_FIELD = 100_000  # longer than any real cell; the csv module stops at 131,072
SEPARATORS = (",", ";", "\t")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
ENCODING_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}
SAVE_AS = "save it from your spreadsheet as 'CSV UTF-8 (Comma delimited)'"
# A line with its end (\r\n, \r or \n), as io.StringIO(text, newline="") gives them;
# str.splitlines also splits at characters a cell may hold (\f, \x1c, U+2028).
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class CsvWorkbook:
    def __init__(self, folder: Path, date_order: str = ""):
        self.folder = Path(folder)
        self.date_order = date_order  # [workbook] date_order: a CSV file has no locale

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

    def stream(self, tab: str) -> tuple[Table, Iterator[tuple[int, list[str]]]] | None:
        """A tab's header, and its data rows (with their sheet row numbers) as they are read.

        Nothing but the file's bytes is held: a tab of 100,000 rows is never
        in memory whole. The rows are not judged as `read` judges them (no
        `broken`); take them all before anything writes to the tab. None when
        the workbook has no such tab.
        """
        path = self.path(tab)
        if not self.folder.is_dir() or not path.exists():
            return None
        raw = _read_bytes(tab, path)
        encoding = _decode(raw, tab, path)[1]
        if encoding == "utf-8" and raw.startswith(BOM.encode()):
            encoding = "utf-8-sig"
        lines = io.TextIOWrapper(io.BytesIO(raw), encoding=encoding, newline="")
        first = lines.readline()
        every_line, separator = itertools.chain([first], lines), _separator([first])
        records = (
            _each_plain_record(every_line, separator)
            if b'"' not in raw
            else _each_record(every_line, separator)
        )
        header = next(records, [])
        numbered = ((number, values) for number, values in enumerate(records, start=2))
        return Table(tab, header, [], date_order=self.date_order), numbered

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
        try:
            return self._write_in_step(tab, path, key_columns, changes, columns)
        except _NotInStep:
            pass  # a row moved or went, or a quoted file: each change is looked for anew
        loaded = self._load(tab, path)
        plan = WritePlan()
        rows = loaded.table.rows  # this write's own copy of the file, changed in place
        changed: dict[int, list[str]] = {}
        for row, col, value in place_changes(loaded.table, key_columns, changes, columns, plan):
            _set_cell(rows[row - 2], col, value)
            changed[row] = rows[row - 2]
            plan.written += 1
        if not changed:
            return plan
        header = loaded.table.header + plan.new_columns
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

    def replace(self, tab: str, rows: Sequence[Sequence[str]], height: int = 0) -> None:
        """Write a tab mailer owns, whole, in its file's own encoding and separator."""
        path = self.path(tab)
        loaded = (
            self._load(tab, path) if path.exists() else _Loaded(Table(tab, [], []), [], False, "\n")
        )
        fresh = _Loaded(
            loaded.table, [], loaded.bom, loaded.newline, loaded.encoding, loaded.separator
        )
        self._save(path, fresh, None, {}, [[plain_text_cell(v) for v in row] for row in rows])

    def _write_in_step(
        self,
        tab: str,
        path: Path,
        key_columns: Sequence[str],
        changes: Sequence[CellChange],
        columns: Sequence[str],
    ) -> WritePlan:
        """Write a file whose changed rows are where they were read, a line at a time.

        Each change's row must still hold its key, and `place_changes` would
        then place it there too; the file is read and written a line at a
        time, never held whole. Raises _NotInStep, the file left as it was,
        when a row moved or went, or for a file the full path reads better: not
        UTF-8, with a quote, a very long line, or lines ended in more than one way.
        """
        try:
            source = open(path, "rb")  # noqa: SIM115 (closed below, after the write)
        except OSError as err:
            raise WorkbookError(f"cannot read tab {tab!r} ({path}): {err.strerror}") from err
        with source:
            lines = _plain_lines(source)
            first = next(lines, "")
            bom = first.startswith(BOM)
            first = first.removeprefix(BOM)
            newline = "\r\n" if first.endswith("\r\n") else "\n"
            separator = _separator([first])
            current = Table(tab, _plain_record(first, separator), [])
            plan = WritePlan()
            indexes = column_indexes(current, [*columns, *(c.column for c in changes)], plan)
            header = current.header + plan.new_columns if plan.new_columns else None
            in_step = _InStep(
                current,
                sorted(changes, key=attrgetter("row")),
                indexes,
                [current.column_index(name) for name in key_columns],
                plan,
                _Texts(separator, newline),
            )
            records = in_step.records(first, _ended_as(lines, newline), header)
            with contextlib.suppress(_Unchanged):  # every change skipped: the file stays
                self._write_text(path, itertools.chain([BOM] if bom else [], records), "utf-8")
        return plan

    def _load(self, tab: str, path: Path) -> _Loaded:
        raw = _read_bytes(tab, path)
        text, encoding = _decode(raw, tab, path)
        bom = text.startswith(BOM)
        newline = "\r\n" if "\r\n" in text else "\n"
        text = text.removeprefix(BOM)
        lines = LINE.findall(text)
        separator = _separator(lines)
        plain = _plain_records(text, lines, separator)
        records, sources = (plain, lines) if plain is not None else _records(lines, separator)
        header = records[0] if records else []
        width = len(header)
        table = Table(tab, header, records[1:], date_order=self.date_order)
        # A plain file's record is one line of short cells: only too many cells can be wrong.
        if plain is None or max(map(len, table.rows), default=0) > width:
            table.broken = {
                number: reason
                for number, values in table.numbered_rows()
                if (plain is None or len(values) > width)
                and (reason := _broken(values, width, sources[number - 1]))
            }
        return _Loaded(table, sources, bom, newline, encoding, separator)

    def saved_as(self, tab: str) -> str:
        """How a tab's file is saved, for people: "UTF-8, semicolon-separated"."""
        loaded = self._load(tab, self.path(tab))
        encoding = ENCODING_NAMES[loaded.encoding] + (" with BOM" if loaded.bom else "")
        return f"{encoding}, {SEPARATOR_NAMES[loaded.separator]}-separated"

    def _save(
        self,
        path: Path,
        loaded: _Loaded,
        header: list[str] | None,
        changed: dict[int, list[str]],
        appended: Sequence[list[str]] = (),
    ) -> None:
        """Write back: changed records anew, every other record exactly as it was read.

        The file is encoded and written a thousand records at a time: a large
        tab's whole text is never held twice over (text, then bytes).
        """
        self._write_text(path, _records_text(loaded, header, changed, appended), loaded.encoding)

    def _write_text(self, path: Path, texts: Iterable[str], encoding: str) -> None:
        """The file made of `texts` in `encoding`, replaced whole at once."""
        try:
            atomic_write(path, _encoded(texts, encoding))
        except UnicodeEncodeError as err:
            bad = err.object[err.start : err.end]
            raise WorkbookError(
                f"cannot write {bad!r} into {path}, which is saved as Windows-1252;"
                f" {SAVE_AS} and the next run writes it"
            ) from None
        except OSError as err:
            raise WorkbookError(f"cannot write {path}: {err.strerror}") from err


def _records_text(
    loaded: _Loaded,
    header: list[str] | None,
    changed: dict[int, list[str]],
    appended: Sequence[list[str]],
) -> Iterator[str]:
    """The file's text, record by record: each changed one written anew, the others as read."""
    texts = _Texts(loaded.separator, loaded.newline)
    if loaded.bom:
        yield BOM
    for index, source in enumerate(loaded.sources):
        if index == 0 and header is not None:
            yield from texts.anew(header)
        elif index + 1 in changed:
            yield from texts.anew(changed[index + 1])
        else:
            yield from texts.as_read(source)
    for values in appended:
        yield from texts.anew(values)


def _encoded(texts: Iterable[str], encoding: str, records: int = 1000) -> Iterator[bytes]:
    """The texts in `encoding`, joined `records` at a time."""
    for batch in batches(texts, records):
        yield "".join(batch).encode(encoding)


class _Texts:
    """A record's text as the file has it: written anew by the csv module, or as it was read."""

    def __init__(self, separator: str, newline: str):
        self.separator = separator
        self.newline = newline
        self._written: list[str] = []  # what csv.writer wrote of the record
        self._writer = csv.writer(self, delimiter=separator, lineterminator=newline)

    def write(self, text: str) -> None:
        """Where csv.writer writes."""
        self._written.append(text)

    def anew(self, values: list[str]) -> Iterator[str]:
        self._writer.writerow(values)
        yield from self._written
        self._written.clear()

    def as_read(self, line: str) -> Iterator[str]:
        """A line as read, ended as the file ends its lines when it had no end (the last)."""
        yield line
        if not line.endswith(("\n", "\r")):
            yield self.newline


class _NotInStep(Exception):
    """The file cannot be written line by line as it was read."""


class _Unchanged(Exception):
    """No change could be made: the file is not written."""


class _InStep:
    """A write in step with the file (CsvWorkbook._write_in_step): the changes by row, in order."""

    def __init__(
        self,
        current: Table,
        changes: list[CellChange],
        indexes: dict[str, int],
        keys: list[int | None],
        plan: WritePlan,
        texts: _Texts,
    ):
        self.current = current  # the header, as the file has it now
        self.changes = changes  # sorted by row
        self.indexes = indexes  # column name -> index
        self.keys = keys  # the identity columns' indexes
        self.plan = plan
        self.texts = texts

    def records(self, first: str, lines: Iterator[str], header: list[str] | None) -> Iterator[str]:
        """The file's text, record by record: a changed one anew, the others as they were."""
        texts = self.texts
        yield from texts.anew(header) if header is not None else texts.as_read(first)
        upcoming = iter(self.changes)
        change = next(upcoming, None)
        for number, line in enumerate(lines, start=2):
            if len(line) > MAX_FIELD:
                raise _NotInStep
            if change is None or change.row != number:
                yield from texts.as_read(line)
                continue
            values = _plain_record(line, texts.separator)
            identity = tuple(self.current.cell(values, i).strip() for i in self.keys)
            placed = False
            while change is not None and change.row == number:
                if tuple(k.strip() for k in change.key) != identity:
                    raise _NotInStep  # the row moved: place_changes looks for it
                placed |= self._set(values, change)
                change = next(upcoming, None)
            yield from texts.anew(values) if placed else texts.as_read(line)
        if change is not None:
            raise _NotInStep  # rows went from the end
        if not self.plan.written:
            raise _Unchanged

    def _set(self, values: list[str], change: CellChange) -> bool:
        """Set the change's cell if it still holds what was read; else note it skipped."""
        col = self.indexes[change.column]
        if self.current.cell(values, col).strip() != change.old.strip():
            self.plan.skipped.append(
                Skipped(change.row, change.column, "changed since it was read")
            )
            return False
        _set_cell(values, col, change.new)
        self.plan.written += 1
        return True


def _plain_lines(source: IO[bytes]) -> Iterator[str]:
    """A UTF-8 file's lines, each with its end; _NotInStep at a quote, a lone \\r or other bytes."""
    for raw in source:
        if b'"' in raw or b"\x00" in raw or b"\r" in raw.rstrip(b"\r\n"):
            raise _NotInStep
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _NotInStep from None


def _ended_as(lines: Iterator[str], newline: str) -> Iterator[str]:
    """The lines, each ended with `newline` but for the last, which may have no end."""
    for line in lines:
        if not line.endswith(newline) and line.endswith(("\n", "\r")):
            raise _NotInStep
        if newline == "\n" and line.endswith("\r\n"):
            raise _NotInStep
        yield line


def _plain_record(line: str, separator: str) -> list[str]:
    """The cells of a line without quotes, as the csv module reads them."""
    record = line.rstrip("\r\n")
    return record.split(separator) if record else []


def _set_cell(values: list[str], col: int, value: str) -> None:
    """Set a row's cell as text a spreadsheet will not run, the row made long enough for it."""
    values.extend([""] * (col + 1 - len(values)))
    values[col] = plain_text_cell(value)


@dataclass(eq=False, repr=False)
class _Loaded:
    table: Table
    sources: list[str]  # each record's text as read, header first
    bom: bool
    newline: str
    encoding: str = "utf-8"
    separator: str = ","


def _read_bytes(tab: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise WorkbookError(f"cannot read tab {tab!r} ({path}): {err.strerror}") from err


def _decode(raw: bytes, tab: str, path: Path) -> tuple[str, str]:
    """The file's text and encoding: UTF-8, else Windows-1252 when it reads as text in it.

    Windows-1252 maps almost every byte to a character, so decoding alone would
    take a UTF-16 export or an .xlsx renamed .csv for text; charset-normalizer
    judges whether the bytes read as real text, and names what they look like.
    """
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes  # slow to import; UTF-8, the common case, needs none

    if b"\x00" not in raw and from_bytes(raw, cp_isolation=["cp1252"]).best() is not None:
        return raw.decode("cp1252"), "cp1252"
    guess = from_bytes(raw).best()
    found = f"{guess.encoding} text" if guess is not None else "not text (an .xlsx or .ods file?)"
    raise WorkbookError(
        f"tab {tab!r} ({path}) cannot be read: it is neither UTF-8 nor Windows-1252 text"
        f" (it looks like {found}); {SAVE_AS}"
    )


def _separator(lines: list[str]) -> str:
    """The separator that splits the header into the most columns: comma, semicolon or tab.

    csv.Sniffer guesses from the whole sample and can pick a letter or a space;
    the header row alone, with the three separators spreadsheets write, decides
    without doubt. A one-column header keeps the comma.
    """
    header = lines[:1]
    widths = {sep: len(next(csv.reader(header, delimiter=sep), [])) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: widths[sep])
    return best if widths[best] > 1 else ","


def _records(lines: list[str], separator: str = ",") -> tuple[list[list[str]], list[str]]:
    """Parse records and keep each one's source text, so a write leaves the others alone."""
    records: list[list[str]] = []
    sources: list[str] = []
    reader = csv.reader(iter(lines), delimiter=separator)
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


def _plain_records(text: str, lines: list[str], separator: str) -> list[list[str]] | None:
    """The records of a file (`text`, as `lines`) without a quote or a long line; else None.

    Without quotes the csv module splits each line at the separator and
    nothing else, so str.split does the same much faster (10,000 rows).
    """
    if '"' in text or (len(text) > MAX_FIELD and any(len(line) > MAX_FIELD for line in lines)):
        return None
    return [_plain_record(line, separator) for line in lines]


def _each_record(lines: Iterable[str], separator: str) -> Iterator[list[str]]:
    """Records one by one, as `_records` parses them, without keeping them or their text."""
    reader = csv.reader(lines, delimiter=separator)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:  # a field over the csv module's limit: keep the row, let it be judged
            yield ["x" * (MAX_FIELD + 1)]


def _each_plain_record(lines: Iterable[str], separator: str) -> Iterator[list[str]]:
    """_each_record for a file without a quote: each line split at the separator.

    As _plain_records splits a file read whole, and as the csv module splits
    such a line, at a sixth of its cost (100,000 rows); a line that may hold a
    cell too long for the csv module is left to it, as _each_record would.
    """
    for line in lines:
        if len(line) > MAX_FIELD:
            yield from _each_record([line], separator)
            continue
        yield _plain_record(line, separator)


def _broken(values: list[str], width: int, source: str) -> str:
    """Why a record cannot be trusted as one row, or ""."""
    if max(map(len, values), default=0) > MAX_FIELD:
        return f"a cell is over {MAX_FIELD:,} characters long"
    if source.count('"') % 2 or ("\n" in source.rstrip("\r\n") and len(values) != width):
        return (
            'has a stray quote (") or runs over several lines out of step with the header,'
            " so it may have swallowed the rows below it; nothing on those rows is changed"
            " until it is fixed"
        )
    if len(values) > width and any(v.strip() for v in values[width:]):
        return (
            f"has {len(values)} cells but the header has {width} (a stray quote, or a comma"
            " outside quotes?); nothing on this row is changed until it is fixed"
        )
    return ""
