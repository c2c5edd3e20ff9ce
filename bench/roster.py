"""How long one signups run takes, without sending: 10,000 signups across 100 events.

Reads the CSV workbook, plans every event, records decisions and rendered
messages in the ledger, and writes statuses back. Prints figures; run with
`.venv/bin/python bench/roster.py [--signups N] [--events N]`.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailer.jobs.runner import run_job  # noqa: E402
from mailer.jobs.signups import SignupsReport  # noqa: E402
from mailer.ledger import open_ledger  # noqa: E402
from mailer.settings import config  # noqa: E402
from mailer.site import Site  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def build_site(root: Path, n_signups: int, n_events: int) -> Path:
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    lists = root / "lists"
    lists.mkdir()
    with open(lists / "events.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "title", "starts_at", "ends_at", "timezone", "capacity", "join_url"])
        for e in range(n_events):
            start = datetime(2026, 12, 2, 12) + timedelta(days=e)
            out.writerow(
                [
                    f"e{e}",
                    "Conversation",
                    f"{start:%Y-%m-%d %H:%M}",
                    f"{start + timedelta(minutes=90):%Y-%m-%d %H:%M}",
                    "America/Chicago",
                    80,
                    "https://zoom.example.org/j/1",
                ]
            )
    with open(lists / "signups.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "Timestamp",
                "Email Address",
                "Name",
                "Are you a member of the network?",
                "Which session?",
            ]
        )
        first = datetime(2026, 11, 1)
        for i in range(n_signups):
            stamp = first + timedelta(seconds=97 * i)
            out.writerow(
                [
                    f"{stamp.month}/{stamp.day}/{stamp.year} {stamp:%H:%M:%S}",
                    f"person{i}@example.org",
                    f"Person {i}",
                    "Yes" if i % 4 else "No",
                    f"e{i % n_events}",
                ]
            )
    (lists / "members.csv").write_text("email\n")
    return root / "mailer.toml"


def timed_run(config_path: Path, now: datetime) -> tuple[float, SignupsReport]:
    site = Site.from_settings(config.load(config_path))
    with open_ledger(site.settings) as ledger:
        start = time.perf_counter()
        report = run_job(site, ledger, config.SIGNUPS_JOB, now, send=False)
        elapsed = time.perf_counter() - start
    return elapsed, report


def peak_memory(n_signups: int, n_events: int) -> int:
    """Peak traced memory of a first run, measured apart (tracing slows the run down)."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = build_site(Path(tmp), n_signups, n_events)
        tracemalloc.start()
        timed_run(config_path, NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = build_site(Path(tmp), args.signups, args.events)
        first, report = timed_run(config_path, NOW)
        again, second = timed_run(config_path, NOW + timedelta(minutes=5))
        db = Path(tmp) / "state" / "mailer.db"
        ledger_mib = sum(p.stat().st_size for p in db.parent.glob("*")) / 2**20
        peak = peak_memory(n_signups=args.signups, n_events=args.events)
        print(f"signups run, {args.signups:,} signups across {args.events} events, no sending")
        print(
            f"  first run  (decide, render, record, write back): {first:6.3f} s"
            f"  ({report.decided:,} messages, {report.cells_written:,} cells written,"
            f" peak {peak / 2**20:.0f} MiB traced)"
        )
        print(
            f"  next run   (nothing new):                         {again:6.3f} s"
            f"  ({second.decided} messages, {second.cells_written} cells written)"
        )
        print(f"  ledger size: {ledger_mib:.1f} MiB")


if __name__ == "__main__":
    main()
