"""A stand-in for the Sheets v4 API, mounted under the real gspread client as a requests adapter.

It keeps a grid per tab (values as the API would hold them: strings, numbers,
booleans; date-times as serial numbers), understands the A1 ranges mailer
uses, answers spreadsheets.get, values:batchGet and values:batchUpdate and
spreadsheets:batchUpdate (appendDimension), records every call, and can
answer a share of calls with 429 or 503.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast
from urllib.parse import parse_qs, unquote, urlparse

import gspread
import requests
from requests.adapters import BaseAdapter

SERIAL_EPOCH = datetime(1899, 12, 30)
CELL = re.compile(r"^([A-Z]+)(\d+)?$")


def serial(moment: datetime) -> float:
    """A wall-clock date-time as the Sheets API's serial number (days since 1899-12-30)."""
    return (moment - SERIAL_EPOCH).total_seconds() / 86400


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, list[str]]
    body: dict | None
    status: int
    authorization: str = ""


@dataclass
class Tab:
    title: str
    sheet_id: int
    grid: list[list] = field(default_factory=list)
    columns: int = 26
    rows: int = 1000


class FakeSheets(BaseAdapter):
    """One spreadsheet, `key`, shared with the service account unless `shared=False`."""

    def __init__(self, key: str = "sheet-key-123", time_zone: str = "America/Chicago"):
        super().__init__()
        self.key = key
        self.time_zone = time_zone
        self.tabs: dict[str, Tab] = {}
        self.calls: list[Call] = []
        self.shared = True
        self.failure_rate = 0.0
        self.fail_next: list[int] = []
        self.random = random.Random(1)
        self.on_read = None  # called after each batchGet: an organizer editing meanwhile

    # The grid, as organizers see it

    def add_tab(self, title: str, rows: list[list]) -> Tab:
        tab = Tab(title, len(self.tabs) + 100, [list(r) for r in rows])
        tab.rows = max(tab.rows, len(rows))
        self.tabs[title] = tab
        return tab

    def records(self, title: str) -> list[dict]:
        """The tab's rows as dicts by header, as a test reads them."""
        header, *rows = self.tabs[title].grid
        return [{h: (row[i] if i < len(row) else "") for i, h in enumerate(header)} for row in rows]

    def client(self) -> gspread.Client:
        # No credentials: requests to Google never leave the session this fake is mounted on.
        return self.mount(gspread.Client(auth=None, session=requests.Session()))  # type: ignore[arg-type]

    def mount(self, client: gspread.Client) -> gspread.Client:
        """Route a gspread client's Sheets calls here, whatever signs them."""
        client.http_client.session.mount("https://sheets.googleapis.com/", self)
        return client

    def api_calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if method is None or c.method == method]

    # The API

    def send(  # type: ignore[override]  # the adapter's other arguments are not used here
        self, request: requests.PreparedRequest, **kwargs: object
    ) -> requests.Response:
        url = urlparse(request.url or "")
        params = parse_qs(url.query)
        body = json.loads(cast(bytes, request.body)) if request.body else None
        path = unquote(url.path)
        status, payload, headers = self._answer(request.method or "GET", path, params, body)
        authorization = str(request.headers.get("Authorization", ""))
        self.calls.append(Call(request.method or "GET", path, params, body, status, authorization))
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass

    def _answer(self, method: str, path: str, params: dict, body: dict | None):
        if self.fail_next:
            code = self.fail_next.pop(0)
            return code, _error(code, "injected"), {"Retry-After": "0"} if code == 429 else {}
        if self.failure_rate and self.random.random() < self.failure_rate:
            code = self.random.choice([429, 503])
            return code, _error(code, "injected"), {"Retry-After": "0"} if code == 429 else {}
        match = re.match(r"^/v4/spreadsheets/([^/:]+)(.*)$", path)
        if not match or match.group(1) != self.key:
            return 404, _error(404, "Requested entity was not found."), {}
        if not self.shared:
            return 403, _error(403, "The caller does not have permission"), {}
        rest = match.group(2)
        if method == "GET" and rest == "" and params.get("includeGridData") == ["true"]:
            return self._grid(params)
        if method == "GET" and rest == "":
            return 200, self._metadata(), {}
        if method == "GET" and rest == "/values:batchGet":
            return self._batch_get(params)
        if method == "POST" and rest == "/values:batchUpdate":
            return self._batch_update(body or {})
        if method == "POST" and rest == ":batchUpdate":
            return self._structure(body or {})
        return 400, _error(400, f"unexpected {method} {path}"), {}

    def _metadata(self) -> dict:
        return {
            "spreadsheetId": self.key,
            "properties": {"title": "Signups", "timeZone": self.time_zone, "locale": "en_GB"},
            "sheets": [
                {
                    "properties": {
                        "sheetId": t.sheet_id,
                        "title": t.title,
                        "index": i,
                        "gridProperties": {"rowCount": t.rows, "columnCount": t.columns},
                    }
                }
                for i, t in enumerate(self.tabs.values())
            ],
        }

    def _grid(self, params: dict):
        """spreadsheets.get with ranges and their cells, as effective values."""
        answer = self._metadata()
        sheets = []
        for a1 in params.get("ranges", []):
            title, _, _ = self._split(a1)
            if title not in self.tabs:
                return 400, _error(400, f"Unable to parse range: {a1}"), {}
            tab = self.tabs[title]
            rows = [{"values": [_effective(v) for v in row]} for row in _trim(tab.grid)]
            entry = next(s for s in answer["sheets"] if s["properties"]["title"] == title)
            sheets.append({**entry, "data": [{"rowData": rows}]})
        answer["sheets"] = sheets
        if self.on_read:
            self.on_read(self)
        return 200, answer, {}

    def _batch_get(self, params: dict):
        if params.get("valueRenderOption") != ["UNFORMATTED_VALUE"]:
            return 400, _error(400, "mailer reads unformatted values"), {}
        if params.get("dateTimeRenderOption") != ["SERIAL_NUMBER"]:
            return 400, _error(400, "mailer reads date-times as serial numbers"), {}
        ranges = []
        for a1 in params.get("ranges", []):
            title, _, _ = self._split(a1)
            if title not in self.tabs:
                return 400, _error(400, f"Unable to parse range: {a1}"), {}
            values = _trim([list(r) for r in self.tabs[title].grid])
            ranges.append({"range": a1, "majorDimension": "ROWS", "values": values})
        if self.on_read:
            self.on_read(self)
        return 200, {"spreadsheetId": self.key, "valueRanges": ranges}, {}

    def _batch_update(self, body: dict):
        option = body.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            return 400, _error(400, "valueInputOption is required"), {}
        updated = 0
        for data in body.get("data", []):
            title, start, _ = self._split(data["range"])
            tab = self.tabs.get(title)
            if tab is None:
                return 400, _error(400, f"Unable to parse range: {data['range']}"), {}
            (row, col) = start
            for r, values in enumerate(data["values"]):
                for c, value in enumerate(values):
                    if col + c > tab.columns or row + r > tab.rows:
                        return 400, _error(400, "Range exceeds grid limits"), {}
                    self._set(tab, row + r, col + c, value, option)
                    updated += 1
        return 200, {"spreadsheetId": self.key, "totalUpdatedCells": updated}, {}

    def _structure(self, body: dict):
        for request in body.get("requests", []):
            added = request.get("addSheet")
            if added:
                title = added["properties"]["title"]
                if title in self.tabs:
                    return 400, _error(400, f"A sheet with the name {title!r} already exists"), {}
                self.add_tab(title, [])
            append = request.get("appendDimension")
            if append:
                tab = next(t for t in self.tabs.values() if t.sheet_id == append["sheetId"])
                if append["dimension"] == "COLUMNS":
                    tab.columns += append["length"]
                else:
                    tab.rows += append["length"]
        return 200, {"spreadsheetId": self.key, "replies": [{}]}, {}

    def _set(self, tab: Tab, row: int, col: int, value, option: str) -> None:
        while len(tab.grid) < row:
            tab.grid.append([])
        cells = tab.grid[row - 1]
        cells.extend([""] * (col - len(cells)))
        if option == "USER_ENTERED" and isinstance(value, str) and value.startswith("="):
            value = {"formula": value}
        cells[col - 1] = value

    def _split(self, a1: str) -> tuple[str, tuple[int, int], tuple[int, int] | None]:
        """ "'Tab'!B2:C3" -> ('Tab', (2, 2), (3, 3)); a bare tab name means the whole tab."""
        if "!" in a1:
            title, _, cells = a1.rpartition("!")
        else:
            title, cells = a1, ""
        if title.startswith("'") and title.endswith("'"):
            title = title[1:-1].replace("''", "'")
        if not cells:
            return title, (1, 1), None
        first, _, last = cells.partition(":")
        return title, _cell(first), _cell(last) if last else None


def _cell(text: str) -> tuple[int, int]:
    match = CELL.match(text)
    if not match:
        raise ValueError(f"bad cell {text!r}")
    return int(match.group(2) or 1), column_number(match.group(1))


def _effective(value) -> dict:
    if value in ("", None):
        return {}
    if isinstance(value, bool):
        return {"effectiveValue": {"boolValue": value}}
    if isinstance(value, int | float):
        return {"effectiveValue": {"numberValue": value}}
    return {"effectiveValue": {"stringValue": str(value)}}


def _trim(grid: list[list]) -> list[list]:
    """As the API answers: no trailing empty cells in a row, no trailing empty rows."""
    out = []
    for row in [list(r) for r in grid]:
        while row and row[-1] in ("", None):
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


def _error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": "ERROR"}}
