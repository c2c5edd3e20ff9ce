"""The organizer's Google Sheet as the workbook, through gspread with a service account.

Quota-minded: a run reads every tab it needs in one call and writes every
changed cell in one values:batchUpdate. Before writing it reads the tab
again (one values:batchGet) and places each value by row identity, so a
sort or an inserted row never shifts a status onto another person. The
spreadsheet's metadata (its time zone, tabs, grid sizes) comes along with
the first read (a spreadsheets.get with grid data) and is kept in memory and
beside the ledger for a day; later reads are values:batchGet. So a run
costs at most three calls, one when nothing changed. Values are read
unformatted, date-times as serial numbers converted in the sheet's own time
zone, and written RAW: nothing a signer-up typed ever becomes a formula.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gspread
import requests
from google.auth import exceptions as auth_errors
from gspread.exceptions import APIError
from gspread.http_client import ParamsType

from mailer.core.errors import ConfigError, WorkbookError
from mailer.core.files import atomic_write
from mailer.core.retry import Retry, with_retries
from mailer.settings.config import Settings
from mailer.settings.schema import DATE_FIELDS, DEFAULT_COLUMNS
from mailer.sheet.workbook import CellChange, Table, WritePlan, normalize_header, plan_writes

log = logging.getLogger("mailer.sheets")
T = TypeVar("T")

CREDENTIALS_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"
KEY_IN_URL = re.compile(r"/spreadsheets/d/([a-zA-Z0-9_-]+)")
SERIAL_EPOCH = datetime(1899, 12, 30)
METADATA_MAX_AGE = 24 * 3600
# A tab that is not there is looked for again at most this often (an optional tab such
# as members may never exist; asking each run would cost a call each run).
MISSING_TAB_RECHECK = 3600
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]  # this sheet's cells, no Drive
ATTEMPTS = 6
MAX_RETRY_SECONDS = 100
LONGEST_WAIT = 60.0  # a longer Retry-After is cut to this
READ_OPTIONS = {
    "valueRenderOption": "UNFORMATTED_VALUE",
    "dateTimeRenderOption": "SERIAL_NUMBER",
    "majorDimension": "ROWS",
}
METADATA_FIELDS = "spreadsheetId,properties(title,timeZone,locale),sheets.properties"
GRID_FIELDS = (
    "spreadsheetId,properties(title,timeZone,locale),"
    "sheets(properties,data(rowData(values(effectiveValue))))"
)


# Locales whose short date puts the month first (CLDR); year-first locales write
# four digits first, which reads one way, so every other locale reads day first.
MONTH_FIRST_LOCALES = {"en_US", "en_PH", "en_AS", "en_GU", "en_MP", "en_PR", "en_UM", "en_VI"}
MONTH_FIRST_LOCALES |= {"es_US", "fil_PH", "en", "fil"}


def spreadsheet_key(text: str) -> str:
    """The key from a sheet's URL, or the key itself."""
    match = KEY_IN_URL.search(text)
    return match.group(1) if match else text.strip()


def a1_tab(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def column_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_text(value: Any, kind: str | None, zone: ZoneInfo) -> str:
    """One unformatted API value as the text the rest of mailer reads."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if kind:
            return serial_text(float(value), kind, zone)
        return str(int(value)) if float(value).is_integer() else repr(value)
    return "" if value is None else str(value)


def effective_value(cell: Mapping[str, Any]) -> Any:
    """A cell of spreadsheets.get grid data as values:batchGet would give it unformatted."""
    value = cell.get("effectiveValue", {})
    for kind in ("stringValue", "numberValue", "boolValue"):
        if kind in value:
            return value[kind]
    return ""


def serial_text(value: float, kind: str, zone: ZoneInfo) -> str:
    moment = SERIAL_EPOCH + timedelta(seconds=round(value * 86400))
    if kind == "instant":
        return moment.replace(tzinfo=zone).isoformat()
    if kind == "date" and moment.time() == datetime.min.time():
        return moment.date().isoformat()
    return moment.isoformat(sep=" ")


class MissingTabError(WorkbookError):
    """A range named a tab the spreadsheet no longer has."""


class GoogleWorkbook:
    def __init__(
        self,
        client: gspread.Client,
        key: str,
        date_columns: Mapping[str, Mapping[str, str]],
        account: str = "",
        cache: Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.key = key
        self.date_columns = date_columns
        self.account = account
        self.cache = cache
        self.clock = clock
        self.sleep = sleep
        self._metadata: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GoogleWorkbook:
        wb = settings.workbook
        if not wb.spreadsheet:
            raise ConfigError(
                f"{settings.source}: [workbook] spreadsheet: give the sheet's URL or key"
            )
        path = wb.credentials or os.environ.get(CREDENTIALS_VARIABLE)
        if not path:
            raise ConfigError(
                f"set {CREDENTIALS_VARIABLE} to the service account's key file "
                "(or [workbook] credentials in mailer.toml)"
            )
        try:
            account = json.loads(Path(path).read_text(encoding="utf-8")).get("client_email", "")
            client = gspread.service_account(filename=str(path), scopes=SCOPES)
        except (OSError, ValueError) as err:
            raise ConfigError(f"service account key file {path}: {err}") from None
        client.http_client.set_timeout(60)
        return cls(
            client,
            spreadsheet_key(wb.spreadsheet),
            date_columns_for(settings),
            account=account,
            cache=settings.ledger.path.parent / "google-sheet.json",
        )

    def describe(self) -> str:
        return f"Google Sheet {self.key}"

    # Reading

    def tab_titles(self) -> list[str]:
        """Every tab in the spreadsheet (fetches the full list when only some are known)."""
        kept = self._kept()
        if kept is None or not kept.get("complete"):
            kept = self.metadata(refresh=True)
        return _titles(kept)

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        """The tabs that exist, each read whole, in one call.

        When the metadata is not known yet (or is a day old, or says nothing of a
        tab), that call is a spreadsheets.get that brings the time zone and the
        tabs' properties with their cells; otherwise a values:batchGet.
        """
        kept = self._kept()
        fresh = kept is not None and self._age(kept) <= METADATA_MAX_AGE
        unknown = [t for t in tabs if kept is None or t not in _titles(kept)]
        if kept is None or not fresh or (unknown and not kept.get("complete")):
            wanted = list(tabs)
            if kept is not None and kept.get("complete"):
                wanted = [t for t in tabs if t in _titles(kept)]
            tables = self._read_with_metadata(wanted) if wanted else None
            if tables is not None:
                return tables
            self.metadata(refresh=True)  # a tab asked for is not there: learn which are
        present = self._present(tabs)
        if not present:
            return {}
        try:
            answer = self._batch_get(present)
        except MissingTabError:
            present = self._present(tabs, refresh=True)  # a tab was renamed since
            answer = self._batch_get(present)
        zone = self.zone()
        tables = {}
        for title, value_range in zip(present, answer.get("valueRanges", []), strict=True):
            tables[title] = self._table(title, value_range.get("values", []), zone)
        return tables

    def _read_with_metadata(self, tabs: list[str]) -> dict[str, Table] | None:
        """Read tabs and the metadata in one spreadsheets.get; None when a tab is missing."""
        params: ParamsType = {
            "ranges": [a1_tab(t) for t in tabs],
            "includeGridData": "true",
            "fields": GRID_FIELDS,
        }
        http = self.client.http_client
        try:
            answer = self._call(lambda: http.spreadsheets_get(self.key, params))
        except MissingTabError:
            return None
        sheets = answer.get("sheets", [])
        self._keep(
            {
                "spreadsheetId": answer.get("spreadsheetId", self.key),
                "properties": answer.get("properties", {}),
                "sheets": [{"properties": sheet["properties"]} for sheet in sheets],
            },
            complete=False,
        )
        zone = self.zone()
        tables = {}
        for sheet in sheets:
            title = sheet["properties"]["title"]
            grid = [
                [effective_value(cell) for cell in row.get("values", [])]
                for data in sheet.get("data", [])[:1]
                for row in data.get("rowData", [])
            ]
            tables[title] = self._table(title, grid, zone)
        return tables

    def _batch_get(self, titles: list[str]) -> dict[str, Any]:
        ranges = [a1_tab(t) for t in titles]
        http = self.client.http_client
        return self._call(lambda: http.values_batch_get(self.key, ranges, dict(READ_OPTIONS)))

    def _present(self, tabs: Sequence[str], refresh: bool = False) -> list[str]:
        kept = self.metadata(refresh=refresh)
        titles = set(_titles(kept))
        rechecked = self.clock() - float(kept.get("complete_at", 0)) <= MISSING_TAB_RECHECK
        if any(t not in titles for t in tabs) and not refresh and not rechecked:
            titles = set(_titles(self.metadata(refresh=True)))
        return [t for t in tabs if t in titles]

    def _table(self, title: str, grid: list[list[Any]], zone: ZoneInfo) -> Table:
        header = [cell_text(v, None, zone) for v in grid[0]] if grid else []
        kinds = self.date_columns.get(title, {})
        column_kinds = [kinds.get(normalize_header(h)) for h in header]
        rows = []
        for values in grid[1:]:
            rows.append(
                [
                    cell_text(v, column_kinds[i] if i < len(column_kinds) else None, zone)
                    for i, v in enumerate(values)
                ]
            )
        return Table(title, header, rows, date_order=self.date_order())

    # Writing

    def write(
        self,
        tab: str,
        key_columns: Sequence[str],
        changes: Sequence[CellChange],
        columns: Sequence[str] = (),
    ) -> WritePlan:
        if not changes:
            return WritePlan()
        # Rows can move while a write waits out a 429: each try places the changes on a new read.
        return self._call(lambda: self._write_once(tab, key_columns, changes, columns))

    def _write_once(
        self,
        tab: str,
        key_columns: Sequence[str],
        changes: Sequence[CellChange],
        columns: Sequence[str],
    ) -> WritePlan:
        current = self.read([tab]).get(tab)
        if current is None:
            raise WorkbookError(f"no tab named {tab!r} to write to (tabs: {self._tab_list()})")
        plan = plan_writes(current, key_columns, changes, columns)
        if not plan.cells and not plan.new_columns:
            return plan
        header_width = len(current.header)
        cells = [(1, header_width + i, name) for i, name in enumerate(plan.new_columns)]
        cells += plan.cells
        self._ensure_columns(tab, max(col for _, col, _ in cells) + 1)
        data = [
            {"range": f"{a1_tab(tab)}!{column_letters(col)}{row}", "values": [values]}
            for row, col, values in runs(cells)
        ]
        body = {"valueInputOption": "RAW", "data": data}
        self._once(lambda: self.client.http_client.values_batch_update(self.key, body))
        return plan

    def append(self, tab: str, records: Sequence[dict[str, str]]) -> int:
        """Add rows after the last row of a tab, by header; returns how many were added."""
        if not records:
            return 0
        return self._call(lambda: self._append_once(tab, records))

    def _append_once(self, tab: str, records: Sequence[dict[str, str]]) -> int:
        current = self.read([tab]).get(tab)
        if current is None:
            raise WorkbookError(f"no tab named {tab!r} to write to (tabs: {self._tab_list()})")
        first = len(current.rows) + 2
        cells = []
        for offset, record in enumerate(records):
            for name, value in record.items():
                index = current.column_index(name)
                if index is not None:
                    cells.append((first + offset, index, value))
        self._ensure_dimension(tab, "ROWS", first + len(records) - 1)
        data = [
            {"range": f"{a1_tab(tab)}!{column_letters(col)}{row}", "values": [values]}
            for row, col, values in runs(cells)
        ]
        body = {"valueInputOption": "RAW", "data": data}
        self._once(lambda: self.client.http_client.values_batch_update(self.key, body))
        return len(records)

    def replace(self, tab: str, rows: Sequence[Sequence[str]], height: int = 0) -> None:
        """Write a tab mailer owns, whole, in one values.batchUpdate; add the tab when missing."""
        self._call(lambda: self._replace_once(tab, rows, height))

    def _replace_once(self, tab: str, rows: Sequence[Sequence[str]], height: int) -> None:
        if not self._present([tab]):
            adding = {"requests": [{"addSheet": {"properties": {"title": tab}}}]}
            self._once(lambda: self.client.http_client.batch_update(self.key, adding))
            self.metadata(refresh=True)
        width = max((len(row) for row in rows), default=1)
        grid = [[*row, *[""] * (width - len(row))] for row in rows]
        grid += [[""] * width for _ in range(height - len(rows))]
        self._ensure_dimension(tab, "ROWS", len(grid))
        self._ensure_columns(tab, width)
        data = [{"range": f"{a1_tab(tab)}!A1", "values": grid}]
        body = {"valueInputOption": "RAW", "data": data}
        self._once(lambda: self.client.http_client.values_batch_update(self.key, body))

    def _ensure_columns(self, tab: str, needed: int) -> None:
        self._ensure_dimension(tab, "COLUMNS", needed)

    def _ensure_dimension(self, tab: str, dimension: str, needed: int) -> None:
        sheet = self._sheet(tab)
        grid = sheet["properties"].setdefault("gridProperties", {})
        count = "columnCount" if dimension == "COLUMNS" else "rowCount"
        have = grid.get(count, 26 if dimension == "COLUMNS" else 1000)
        if needed <= have:
            return
        request = {
            "appendDimension": {
                "sheetId": sheet["properties"]["sheetId"],
                "dimension": dimension,
                "length": needed - have,
            }
        }
        body = {"requests": [request]}
        self._call(lambda: self.client.http_client.batch_update(self.key, body))
        grid[count] = needed

    # Metadata

    def metadata(self, refresh: bool = False) -> dict[str, Any]:
        """Time zone and tabs: kept in memory and beside the ledger for a day."""
        kept = self._kept()
        if refresh or kept is None or self._age(kept) > METADATA_MAX_AGE:
            http = self.client.http_client
            data = self._call(lambda: http.spreadsheets_get(self.key, {"fields": METADATA_FIELDS}))
            kept = self._keep(data, complete=True)
        return kept

    def _kept(self) -> dict[str, Any] | None:
        if self._metadata is None:
            self._metadata = self._load_cached()
        return self._metadata

    def _keep(self, data: dict[str, Any], complete: bool) -> dict[str, Any]:
        """Keep fresh metadata; a partial answer adds to what was known rather than replace it."""
        now = self.clock()
        previous = self._metadata or {}
        if not complete and previous:
            titles = {s["properties"]["title"] for s in data["sheets"]}
            data["sheets"] += [
                s for s in previous.get("sheets", []) if s["properties"]["title"] not in titles
            ]
        data["fetched_at"] = now
        data["complete"] = complete or bool(previous.get("complete"))
        data["complete_at"] = now if complete else previous.get("complete_at", 0)
        self._metadata = data
        if self.cache:
            payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
            atomic_write(self.cache, payload, durable=False, private=True)
        return data

    def _load_cached(self) -> dict[str, Any] | None:
        if not self.cache or not self.cache.exists():
            return None
        try:
            data = json.loads(self.cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if data.get("spreadsheetId") == self.key else None

    def _age(self, kept: dict[str, Any]) -> float:
        return self.clock() - float(kept.get("fetched_at", 0))

    def date_order(self) -> str:
        """How the sheet's locale writes 9/12/2026 in a cell typed as text: "MDY" or "DMY"."""
        locale = self.metadata().get("properties", {}).get("locale", "")
        if not locale:
            return ""
        return "MDY" if locale in MONTH_FIRST_LOCALES else "DMY"

    def zone(self) -> ZoneInfo:
        name = self.metadata().get("properties", {}).get("timeZone", "UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _sheet(self, tab: str) -> dict[str, Any]:
        for sheet in self.metadata()["sheets"]:
            if sheet["properties"]["title"] == tab:
                found: dict[str, Any] = sheet
                return found
        raise WorkbookError(f"no tab named {tab!r} (tabs: {self._tab_list()})")

    def _tab_list(self) -> str:
        return ", ".join(repr(t) for t in self.tab_titles())

    # Calls

    def _call(self, request: Callable[[], T]) -> T:
        """One API call, retried on 429, 5xx and network errors, bounded in tries and time."""
        try:
            return with_retries(
                lambda: self._once(request), ATTEMPTS, MAX_RETRY_SECONDS, LONGEST_WAIT, self.sleep
            )
        except Retry as err:
            raise WorkbookError(
                f"Google Sheets is not answering ({err}) after {ATTEMPTS} tries; nothing "
                "more was written, and the next run finishes the work"
            ) from None

    def _once(self, request: Callable[[], T]) -> T:
        """One try: what is worth repeating raises Retry, a refusal from Google a WorkbookError."""
        try:
            return request()
        except APIError as err:
            status = err.response.status_code
            if status == 429 or status >= 500:
                after = err.response.headers.get("Retry-After", "")
                wait = float(after) if after.replace(".", "", 1).isdigit() else None
                raise Retry(f"{status} {err.error.get('message', '')}".strip(), wait) from None
            raise self._explain(status, err) from None
        except (requests.ConnectionError, requests.Timeout, auth_errors.TransportError) as err:
            raise Retry(f"network: {type(err).__name__}", None) from None
        except auth_errors.RefreshError as err:
            # The service account signs in inside a call: the first, then as its token expires.
            reason = str(err.args[0]) if err.args else type(err).__name__
            if err.retryable:
                raise Retry(f"sign-in: {reason}", None) from None
            raise self._refused_key(reason) from None

    def _refused_key(self, reason: str) -> WorkbookError:
        who = self.account or "the service account"
        return WorkbookError(
            f"Google refused the key of {who} ({reason}): the key may have been deleted, or "
            "this machine's clock is off; make a new JSON key (IAM & Admin → Service Accounts "
            f"→ Keys) and point {CREDENTIALS_VARIABLE} at it"
        )

    def _explain(self, status: int, err: APIError) -> WorkbookError:
        message = str(err.error.get("message", ""))
        if status == 403:
            who = self.account or "the service account's client_email"
            return WorkbookError(
                f"Google refused access to spreadsheet {self.key}: share the sheet with "
                f"{who} as an Editor (Share button in the sheet)"
            )
        if status == 404:
            return WorkbookError(
                f"no spreadsheet with key {self.key}: check [workbook] spreadsheet in "
                "mailer.toml (the URL or the key between /d/ and /edit)"
            )
        if "Unable to parse range" in message:
            return MissingTabError(f"{message}: no such tab")
        return WorkbookError(f"Google Sheets answered {status}: {message}")


def _titles(kept: Mapping[str, Any]) -> list[str]:
    return [s["properties"]["title"] for s in kept.get("sheets", [])]


def runs(cells: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, list[str]]]:
    """Cells side by side in a row become one range: (row, first column, values)."""
    out: list[tuple[int, int, list[str]]] = []
    for row, col, value in sorted(cells, key=lambda c: (c[0], c[1])):
        if out and out[-1][0] == row and out[-1][1] + len(out[-1][2]) == col:
            out[-1][2].append(value)
        else:
            out.append((row, col, [value]))
    return out


def date_columns_for(settings: Settings) -> dict[str, dict[str, str]]:
    """Tab title -> normalized header -> how its serial numbers read."""
    wb = settings.workbook
    out: dict[str, dict[str, str]] = {}
    for tab, fields in DATE_FIELDS.items():
        mapping = wb.column_map(tab) if tab in DEFAULT_COLUMNS else {}
        out[wb.tab(tab)] = {normalize_header(mapping[f]): kind for f, kind in fields.items()}
    return out
