"""Sheets API calls per signups run, for 10, 1,000 and 10,000 signup rows.

The real gspread client talks to the Sheets stand-in from tests/ (a requests
adapter that counts every call). For each size: the first run (metadata not
yet known), a run after an organizer cancels one seat, and a run with nothing
to change. Emails are decided but not sent: only the sheet is measured.
Run with `.venv/bin/python bench/sheets_calls.py`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from fake_sheets import FakeSheets, serial  # noqa: E402

from mailer.jobs.runner import run_job  # noqa: E402
from mailer.ledger.sqlite import Ledger  # noqa: E402
from mailer.mail.render import Renderer  # noqa: E402
from mailer.sending.transports import open_transport  # noqa: E402
from mailer.settings import config  # noqa: E402
from mailer.sheet.google import GoogleWorkbook, date_columns_for  # noqa: E402
from mailer.site import Site  # noqa: E402
from mailer.tools.sample import write_sample  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
FORM_TAB = "Form Responses 1"


def build(root: Path, rows: int) -> tuple[config.Settings, FakeSheets]:
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    settings = config.load(root / "mailer.toml")
    write_sample(settings, NOW)
    workbook = dataclasses.replace(settings.workbook, tabs={"signups": FORM_TAB})
    settings = dataclasses.replace(settings, workbook=workbook)
    sheets = FakeSheets("bench-sheet")
    with open(root / "lists" / "events.csv", encoding="utf-8-sig", newline="") as f:
        events = list(csv.reader(f))
    for event in events[1:]:
        event[3] = serial(datetime.strptime(event[3], "%Y-%m-%d %H:%M"))
        event[4] = serial(datetime.strptime(event[4], "%Y-%m-%d %H:%M"))
    sheets.add_tab("events", events)
    with open(root / "lists" / "signups.csv", encoding="utf-8-sig", newline="") as f:
        header, first, *_ = list(csv.reader(f))
    start = datetime(2026, 11, 1, 8, 0)
    signups = [header[:7]]
    for i in range(rows):
        moment = serial(start + timedelta(seconds=37 * i))
        signups.append([moment, f"p{i}@example.org", f"Person {i}", "", "No", first[5], "No"])
    sheets.add_tab(FORM_TAB, signups)
    sheets.add_tab("members", [["email", "name"]])
    sheets.add_tab("subscribers", [["email", "name", "subscribed_on", "unsubscribed_on"]])
    return settings, sheets


def run(settings: config.Settings, sheets: FakeSheets, now: datetime) -> tuple[Counter, int]:
    """One signups run: the calls it made, and how many cells it wrote."""
    workbook = GoogleWorkbook(
        sheets.client(),
        "bench-sheet",
        date_columns_for(settings),
        cache=settings.ledger.path.parent / "google-sheet.json",
    )
    site = Site(settings, workbook, open_transport(settings), Renderer(settings.root / "templates"))
    sheets.calls.clear()
    with Ledger(settings.ledger.path) as ledger:
        run_job(site, ledger, config.SIGNUPS_JOB, now, send=False)
    calls = Counter(f"{c.method} {c.path.rpartition('/')[2]}" for c in sheets.calls)
    cells = sum(len(d["values"][0]) for c in sheets.calls for d in (c.body or {}).get("data", []))
    return calls, cells


def describe(calls: Counter) -> str:
    letters = {"GET bench-sheet": "G", "GET values:batchGet": "R", "POST values:batchUpdate": "W"}
    made = "".join(letters.get(k, k) * n for k, n in calls.items())
    count = sum(calls.values())
    return f"{count} call{'' if count == 1 else 's'} ({'+'.join(made) or 'none'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000])
    args = parser.parse_args()
    print("Sheets API calls per signups run (real gspread, stand-in API)")
    heads = ("first run ever", "a seat cancelled", "nothing changed")
    print(f"{'rows':>7} | " + " | ".join(f"{h:<22}" for h in heads))

    for rows in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            settings, sheets = build(Path(tmp), rows)
            started = time.perf_counter()
            first, cells = run(settings, sheets, NOW)
            seconds = time.perf_counter() - started
            tab = sheets.tabs[FORM_TAB]
            tab.grid[1][tab.grid[0].index("Status")] = "cancelled"
            changed, _ = run(settings, sheets, NOW + timedelta(minutes=5))
            unchanged, _ = run(settings, sheets, NOW + timedelta(minutes=10))
            print(
                f"{rows:>7,} | {describe(first):<22} | {describe(changed):<22} |"
                f" {describe(unchanged):<22} | first run wrote {cells:,} cells in {seconds:.2f} s"
            )
    print("G = spreadsheets.get: the tabs with the sheet's time zone and properties, when these")
    print("    are not known yet or are a day old (then kept beside the ledger and by the daemon);")
    print("R = values:batchGet; W = values:batchUpdate (RAW)")


if __name__ == "__main__":
    main()
