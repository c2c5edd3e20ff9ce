"""The organizer's Google Sheet as the workbook: the real gspread client over a Sheets stand-in.

The sample workbook is loaded into the stand-in as a Google Form would leave
it: answers on "Form Responses 1", timestamps as serial numbers in the
sheet's time zone, session times typed into Events and parsed by Sheets.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW, SiteDir
from fake_sheets import FakeSheets, serial
from fake_token_endpoint import TokenEndpoint

from mailer.core.errors import ConfigError, WorkbookError
from mailer.jobs.dry_run import dry_run
from mailer.jobs.runner import run_job, run_jobs
from mailer.jobs.signups import SignupsReport
from mailer.ledger import open_ledger
from mailer.mail.render import Renderer
from mailer.sending.transports import open_transport
from mailer.settings import config
from mailer.sheet.google import (
    GoogleWorkbook,
    cell_text,
    column_letters,
    date_columns_for,
    spreadsheet_key,
)
from mailer.site import Site
from mailer.tools.checks import check_workbook

FORM_TAB = "Form Responses 1"
ACCOUNT = "mailer@care-network.iam.gserviceaccount.com"
HOSTILE = '=IMPORTXML("http://x","//a")'


def load_tab(site: SiteDir, name: str) -> list[list]:
    with open(site.root / "lists" / f"{name}.csv", encoding="utf-8-sig", newline="") as f:
        return [list(row) for row in csv.reader(f)]


def as_serial(text: str, pattern: str) -> float:
    return serial(datetime.strptime(text, pattern))


@dataclasses.dataclass
class SheetSite:
    """The sample site with its workbook in a Google Sheet stand-in."""

    site: SiteDir
    sheets: FakeSheets

    def settings(self) -> config.Settings:
        return self.site.settings()

    def open(self) -> Site:
        settings = self.settings()
        workbook = GoogleWorkbook(
            self.sheets.client(),
            spreadsheet_key(settings.workbook.spreadsheet),
            date_columns_for(settings),
            account=ACCOUNT,
            cache=settings.ledger.path.parent / "google-sheet.json",
            sleep=lambda seconds: None,
        )
        templates = Renderer(settings.root / "templates")
        return Site(settings, workbook, open_transport(settings), templates)

    def run(self, kind: str = "signups", now: datetime = NOW):
        site = self.open()
        job = next(j for j in config.load_jobs(site.settings) if j.kind == kind)
        with open_ledger(site.settings) as ledger:
            return run_job(site, ledger, job, now)

    def signups(self) -> list[dict]:
        return self.sheets.records(FORM_TAB)


@pytest.fixture
def sheet(site: SiteDir) -> SheetSite:
    text = site.config.read_text()
    text = text.replace('backend = "csv"', 'backend = "google"\nspreadsheet = "sheet-key-123"')
    site.config.write_text(text + '\n[workbook.tabs]\nsignups = "Form Responses 1"\n')
    sheets = FakeSheets("sheet-key-123", time_zone="America/Chicago")
    events = load_tab(site, "events")
    for row in events[1:]:
        row[3] = as_serial(row[3], "%Y-%m-%d %H:%M")
        row[4] = as_serial(row[4], "%Y-%m-%d %H:%M")
        row[6] = int(row[6])
    sheets.add_tab("events", events)
    signups = load_tab(site, "signups")
    for row in signups[1:]:
        row[0] = as_serial(row[0], "%m/%d/%Y %H:%M:%S")
    sheets.add_tab(FORM_TAB, [row[:7] for row in signups])
    for name in ("members", "resources", "subscribers"):
        sheets.add_tab(name, load_tab(site, name))
    return SheetSite(site, sheets)


def test_sample_signups_run_end_to_end_through_gspread(sheet):
    report = sheet.run()

    statuses = Counter(row["Status"] for row in sheet.signups())
    assert statuses == {"confirmed": 12, "waitlisted": 2, "duplicate": 1, "invalid": 1}
    assert Counter(line["kind"] for line in sheet.site.sent()) == {
        "confirmation": 12,
        "waitlist": 2,
    }
    assert report.delivered["sent"] == 14
    waiting = [(r["Name"], r["Position"]) for r in sheet.signups() if r["Status"] == "waitlisted"]
    assert waiting == [("Ben Whitaker", "1"), ("Rosa Jiménez", "2")]
    assert "signups" not in sheet.sheets.tabs, "the form's tab is used, by its mapped name"


def test_a_cancellation_promotes_the_first_waitlisted(sheet):
    sheet.run()
    tab = sheet.sheets.tabs[FORM_TAB]
    status = tab.grid[0].index("Status")
    daniel = next(row for row in tab.grid if "Daniel Reyes" in row)
    daniel[status] = "cancelled"

    sheet.run(now=NOW + timedelta(minutes=5))

    after = {r["Name"]: r["Status"] for r in sheet.signups()}
    assert after["Daniel Reyes"] == "cancelled"
    assert after["Ben Whitaker"] == "confirmed"
    promoted = [line for line in sheet.site.sent() if line["kind"] == "promotion"]
    assert [line["to"] for line in promoted] == ["ben.whitaker@example.org"]


def calls(sheets: FakeSheets) -> list[tuple[str, str]]:
    made = [(c.method, c.path.rpartition("/")[2]) for c in sheets.calls]
    sheets.calls.clear()
    return made


def test_a_run_costs_at_most_three_calls_and_nothing_to_write_costs_one(sheet):
    sheet.run()
    first = calls(sheet.sheets)
    sheet.run(now=NOW + timedelta(minutes=5))
    unchanged = calls(sheet.sheets)
    tab = sheet.sheets.tabs[FORM_TAB]
    next(row for row in tab.grid if "Daniel Reyes" in row)[tab.grid[0].index("Status")] = (
        "cancelled"
    )
    sheet.run(now=NOW + timedelta(minutes=10))
    changed = calls(sheet.sheets)

    read, write = ("GET", "values:batchGet"), ("POST", "values:batchUpdate")
    with_metadata = ("GET", "sheet-key-123")
    assert first == [with_metadata, read, write], "the first read brings the metadata along"
    assert unchanged == [read]
    assert changed == [read, read, write]


def test_the_digest_reads_every_tab_it_needs_in_one_call(sheet):
    report = sheet.run("digest")

    assert report.recipients == 7, "three subscribers and four opt-ins on the form"
    assert calls(sheet.sheets).count(("GET", "values:batchGet")) == 1
    sheet.run("digest", now=NOW + timedelta(minutes=5))
    assert calls(sheet.sheets) == [("GET", "values:batchGet")]


def test_a_tab_that_is_not_there_costs_no_extra_call_each_run(sheet):
    del sheet.sheets.tabs["members"]
    sheet.run()
    calls(sheet.sheets)

    sheet.run(now=NOW + timedelta(minutes=5))

    assert calls(sheet.sheets) == [("GET", "values:batchGet")]


def test_a_tab_renamed_after_the_metadata_was_kept_is_found_again(sheet):
    sheet.run()
    cache = sheet.settings().ledger.path.parent / "google-sheet.json"
    kept = json.loads(cache.read_text())
    kept["fetched_at"] -= 3 * 3600
    cache.write_text(json.dumps(kept))
    sheet.sheets.tabs["Events 2027"] = sheet.sheets.tabs.pop("events")
    sheet.sheets.tabs["Events 2027"].title = "Events 2027"

    with pytest.raises(WorkbookError, match="no tab 'events'"):
        sheet.run(now=NOW + timedelta(minutes=5))


def test_the_first_read_and_later_reads_see_the_same_cells(sheet):
    workbook = sheet.open().workbook
    tabs = ["events", FORM_TAB, "members", "resources", "subscribers"]

    first = workbook.read(tabs)
    later = workbook.read(tabs)

    kinds = [c.path.rpartition("/")[2] for c in sheet.sheets.calls]
    assert kinds == ["sheet-key-123", "values:batchGet"]
    assert first == later
    stamp = first[FORM_TAB].rows[0][0]
    assert stamp.endswith("-06:00"), "a form timestamp is an instant in the sheet's zone"
    assert first["events"].rows[0][3].endswith("12:00:00"), "a session's start is wall-clock"


def test_metadata_is_fetched_once_and_kept(sheet):
    sheet.run()
    sheet.run(now=NOW + timedelta(minutes=5))
    site = sheet.open()
    site.workbook.read(["events"])
    site.workbook.read(["events"])

    metadata_calls = [c for c in sheet.sheets.calls if c.path.endswith("sheet-key-123")]
    assert len(metadata_calls) == 1


def test_statuses_are_written_raw_and_typed_text_stays_text(sheet):
    tab = sheet.sheets.tabs[FORM_TAB]
    tab.grid.append([serial(datetime(2026, 11, 23, 8)), HOSTILE, HOSTILE, "", "No", "x", "No"])

    sheet.run()

    writes = sheet.sheets.api_calls("POST")
    assert [w.body["valueInputOption"] for w in writes] == ["RAW"]
    assert not any(isinstance(v, dict) for row in tab.grid for v in row), "no formula anywhere"
    hostile = next(r for r in sheet.signups() if r["Name"] == HOSTILE)
    assert hostile["Status"] == "invalid"
    assert hostile["Email Address"] == HOSTILE


def test_a_third_of_calls_failing_still_sends_once_and_writes_every_status(sheet):
    sheet.sheets.failure_rate = 1 / 3

    for minutes in (0, 5, 10):
        sheet.run(now=NOW + timedelta(minutes=minutes))

    failures = [c for c in sheet.sheets.calls if c.status in (429, 503)]
    assert failures, "the stand-in did answer 429 and 503"
    statuses = Counter(row["Status"] for row in sheet.signups())
    assert statuses == {"confirmed": 12, "waitlisted": 2, "duplicate": 1, "invalid": 1}
    keys = Counter(line["key"] for line in sheet.site.sent())
    assert len(keys) == 14 and max(keys.values()) == 1


def test_an_organizer_sorting_and_inserting_rows_meanwhile_never_shifts_a_status(sheet):
    reads = []

    def organizer_edits(sheets: FakeSheets) -> None:
        reads.append(1)
        if len(reads) != 1:
            return
        tab = sheets.tabs[FORM_TAB]
        header, *rows = tab.grid
        rows.reverse()
        late = [serial(datetime(2026, 11, 24, 8)), "new.person@example.org", "New Person"]
        tab.grid[:] = [header, late, *rows]

    sheet.sheets.on_read = organizer_edits
    sheet.run()

    by_email = {r["Email Address"]: r for r in sheet.signups()}
    seats = {line["to"]: line["kind"] for line in sheet.site.sent()}
    for email, kind in seats.items():
        expected = "confirmed" if kind == "confirmation" else "waitlisted"
        assert by_email[email]["Status"] == expected, email
    assert by_email["new.person@example.org"].get("Status", "") == ""


def test_a_write_that_waits_out_a_429_is_placed_again_on_rows_sorted_meanwhile(sheet):
    reads = []

    def organizer_sorts_while_the_write_waits(sheets: FakeSheets) -> None:
        reads.append(1)
        if len(reads) == 2:  # the read just before writing has been answered
            tab = sheets.tabs[FORM_TAB]
            header, *rows = tab.grid
            tab.grid[:] = [header, *reversed(rows)]
            sheets.fail_next = [429]

    sheet.sheets.on_read = organizer_sorts_while_the_write_waits
    sheet.run()

    made = [(c.path.rpartition("/")[2], c.status) for c in sheet.sheets.calls]
    read, write = "values:batchGet", "values:batchUpdate"
    assert made[1:] == [(read, 200), (write, 429), (read, 200), (write, 200)]
    by_email = {r["Email Address"]: r for r in sheet.signups()}
    for line in sheet.site.sent():
        expected = "confirmed" if line["kind"] == "confirmation" else "waitlisted"
        assert by_email[line["to"]]["Status"] == expected, line["to"]


def test_a_deleted_row_is_not_written_and_nothing_shifts(sheet):
    def delete_first_signup(sheets: FakeSheets) -> None:
        sheets.on_read = None
        del sheets.tabs[FORM_TAB].grid[1]

    sheet.sheets.on_read = delete_first_signup
    report = sheet.run()

    assert "maya.okafor@example.org" not in {r["Email Address"] for r in sheet.signups()}
    assert any(s.reason == "row moved or deleted" for s in report.skipped_writes)
    rosa = next(r for r in sheet.signups() if r["Name"] == "Rosa Jiménez")
    assert rosa["Status"] == "waitlisted"


def test_not_shared_names_the_service_account(sheet):
    sheet.sheets.shared = False

    with pytest.raises(WorkbookError, match="share the sheet with mailer@care-network"):
        sheet.run()


def test_a_wrong_key_says_what_to_check(sheet):
    sheet.sheets.key = "another-key"

    with pytest.raises(WorkbookError, match="no spreadsheet with key sheet-key-123"):
        sheet.run()


def test_a_missing_tab_is_named(sheet):
    del sheet.sheets.tabs[FORM_TAB]

    with pytest.raises(WorkbookError, match="no tab 'Form Responses 1'"):
        sheet.run()


def test_endless_429_gives_up_with_a_clear_message_and_writes_nothing(sheet):
    sheet.sheets.fail_next = [429] * 50

    with pytest.raises(WorkbookError, match=r"not answering \(429 injected\) after 6 tries"):
        sheet.run()
    assert not sheet.sheets.api_calls("POST")


def test_an_outage_at_write_time_is_finished_by_the_next_run(sheet):
    sheet.run()  # metadata kept; the next run costs read, re-read, write
    tab = sheet.sheets.tabs[FORM_TAB]
    daniel = next(row for row in tab.grid if "Daniel Reyes" in row)
    daniel[tab.grid[0].index("Status")] = "cancelled"

    def outage_after_first_read(sheets: FakeSheets) -> None:
        sheets.on_read = None
        sheets.fail_next = [503] * 6

    sheet.sheets.on_read = outage_after_first_read
    report = sheet.run(now=NOW + timedelta(minutes=5))
    assert [s.split(":")[0] for s in report.failed_steps] == ["sheet write-back failed"]
    assert "503" in report.failed_steps[0]
    assert report.delivered["sent"] >= 1, "what went out is reported as sent"
    ben = next(r for r in sheet.signups() if r["Name"] == "Ben Whitaker")
    assert ben["Status"] == "waitlisted", "the sheet was not half-written"
    promoted = [line for line in sheet.site.sent() if line["kind"] == "promotion"]
    assert len(promoted) == 1, "the ledger decided and sent the promotion before the outage"

    sheet.run(now=NOW + timedelta(minutes=10))

    ben = next(r for r in sheet.signups() if r["Name"] == "Ben Whitaker")
    assert ben["Status"] == "confirmed"
    assert len([line for line in sheet.site.sent() if line["kind"] == "promotion"]) == 1


def test_new_status_columns_grow_the_grid_when_it_is_full(sheet):
    tab = sheet.sheets.tabs[FORM_TAB]
    tab.columns = 7

    sheet.run()

    assert tab.columns == 12  # Status, Position, Notified, Note, Session id
    assert tab.grid[0][7:] == ["Status", "Position", "Notified", "Note", "Session id"]


def test_serial_date_times_read_in_the_sheets_own_zone():
    chicago = ZoneInfo("America/Chicago")
    stamp = serial(datetime(2026, 11, 19, 9, 0, 13))

    assert cell_text(stamp, "instant", chicago) == "2026-11-19T09:00:13-06:00"
    assert cell_text(stamp, "instant", ZoneInfo("Europe/London")) == "2026-11-19T09:00:13+00:00"
    assert cell_text(serial(datetime(2026, 12, 2, 12)), "wall", chicago) == "2026-12-02 12:00:00"
    assert cell_text(serial(datetime(2026, 11, 23)), "date", chicago) == "2026-11-23"
    assert cell_text(12, None, chicago) == "12"
    assert cell_text(True, None, chicago) == "TRUE"


def test_spreadsheet_key_from_a_url_or_the_key():
    url = "https://docs.google.com/spreadsheets/d/1AbC-d_9xyz/edit#gid=0"
    assert spreadsheet_key(url) == "1AbC-d_9xyz"
    assert spreadsheet_key(" 1AbC-d_9xyz ") == "1AbC-d_9xyz"
    assert [column_letters(i) for i in (0, 25, 26, 701)] == ["A", "Z", "AA", "ZZ"]


def test_settings_without_a_sheet_or_credentials_are_config_errors(sheet, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        Site.from_settings(sheet.settings())

    key_file = Path(sheet.site.root / "key.json")
    key_file.write_text(json.dumps({"type": "service_account"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    with pytest.raises(ConfigError, match=r"key\.json"):
        Site.from_settings(sheet.settings())


@pytest.fixture
def token_endpoint():
    with TokenEndpoint() as endpoint:
        yield endpoint


@pytest.mark.parametrize("given_by", ["environment", "mailer.toml"])
def test_the_key_file_signs_in_once_with_the_sheets_scope_only(
    sheet, token_endpoint, monkeypatch, given_by
):
    key = token_endpoint.key_file(sheet.site.root / "service-account.json", ACCOUNT)
    if given_by == "environment":
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    else:
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        text = sheet.site.config.read_text()
        text = text.replace(
            'backend = "google"', 'backend = "google"\ncredentials = "service-account.json"'
        )
        sheet.site.config.write_text(text)
    workbook = GoogleWorkbook.from_settings(sheet.settings())
    sheet.sheets.mount(workbook.client)

    workbook.read(["events", FORM_TAB])
    workbook.read(["events", FORM_TAB])

    [grant] = token_endpoint.grants
    assert grant["iss"] == ACCOUNT
    assert grant["scope"] == "https://www.googleapis.com/auth/spreadsheets", "no Drive access"
    assert [c.authorization for c in sheet.sheets.calls] == ["Bearer token-1"] * 2


def test_a_refused_key_says_to_make_a_new_one_and_calls_no_sheet(
    sheet, token_endpoint, monkeypatch
):
    key = token_endpoint.key_file(sheet.site.root / "service-account.json", ACCOUNT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    token_endpoint.refusal = "Invalid JWT Signature."
    settings = sheet.settings()
    workbook = GoogleWorkbook.from_settings(settings)
    sheet.sheets.mount(workbook.client)

    report = check_workbook(settings, workbook)

    [finding] = report.findings
    assert finding.severity == "error"
    assert f"Google refused the key of {ACCOUNT} (invalid_grant: Invalid JWT Signature.)" in str(
        finding
    )
    assert "make a new JSON key" in str(finding)
    assert not sheet.sheets.calls


def test_a_series_adds_its_dates_to_the_events_tab_through_the_api(sheet):
    header = ["id", "title", "weekday", "start_time", "end_time", "timezone", "capacity"]
    sheet.sheets.add_tab(
        "series",
        [header, ["wed", "Conversation", "Wednesday", "12:00", "13:30", "America/Chicago", 12]],
    )
    with sheet.site.config.open("a", encoding="utf-8") as handle:
        handle.write('\n[series]\nahead = "2 weeks"\n')
    events = sheet.sheets.tabs["events"]
    events.rows = len(events.grid)  # a full grid: the new rows need appendDimension

    sheet.run()
    sheet.run(now=NOW + timedelta(minutes=5))

    ids = [row["id"] for row in sheet.sheets.records("events")]
    assert ids[1:] == ["wed-2026-11-25", "wed-2026-12-02", "wed-2026-12-09"]
    assert sheet.sheets.records("events")[2]["starts_at"] == "2026-12-02 12:00"


def test_a_dry_run_reads_the_sheet_and_writes_not_one_cell(sheet):
    before = sheet.signups()

    with dry_run(sheet.open()) as (scratch, memory):
        (outcome,) = run_jobs(scratch, [config.SIGNUPS_JOB], NOW, record=False)

    assert (
        isinstance(outcome.report, SignupsReport) and outcome.report.cells_written > 0
    )  # would write
    assert len(memory.sent) == 14
    assert sheet.signups() == before
    assert not [c for c in sheet.sheets.calls if c.method != "GET"]
