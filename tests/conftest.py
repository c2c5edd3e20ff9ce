"""Small worlds for tests: a site on disk with the sample workbook, a fixed clock, the CLI."""

from __future__ import annotations

import csv
import gc
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from mailer.cli.commands import cli
from mailer.jobs.runlog import RunLog
from mailer.ledger import open_ledger
from mailer.rules.schedules import LastRun
from mailer.settings import config
from mailer.settings.config import JobSettings, Settings
from mailer.tools.sample import write_sample

if TYPE_CHECKING:  # psycopg loads only in a run that starts the server (`make test-all`)
    from postgres import Postgres

REPO = Path(__file__).resolve().parent.parent
# A Tuesday morning in Chicago; the sample session is the Wednesday a week later.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def body_text(message: Message, subtype: str = "plain") -> str:
    """The text of a read email's text/plain (or text/html) part."""
    assert isinstance(message, EmailMessage), "read it with policy=email.policy.default"
    part = message.get_body((subtype,))
    assert part is not None, f"the email has no text/{subtype} part"
    return str(part.get_content())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so parallel workers start on them and finish together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# The collector's pace for the tests: a young collection every 10,000 new objects, not 700.
# A run makes millions of objects (rows, statements, messages) that mostly die young; at
# Python's pace the survivors reached the old generation, and walking it and the imported
# modules took 8 s of the suite's 105 s of CPU (serial); frozen and at this pace, under 4 s.
COLLECT_EVERY = (10_000, 20, 20)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting imported (Python, mailer, the libraries) lives to the end: freeze it."""
    gc.freeze()
    gc.set_threshold(*COLLECT_EVERY)


def with_public_url(site: SiteDir, url: str) -> None:
    """Set `[server] public_url`: links to `mailer serve`'s pages go out in the emails."""
    site.config.write_text(
        site.config.read_text().replace('public_url = ""', f'public_url = "{url}"')
    )


@dataclass
class SiteDir:
    """A site folder (mailer.toml, templates/, lists/) and ways to look at it."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "mailer.toml"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def settings(self) -> Settings:
        return config.load(self.config)

    def use_transport(self, backend: str, **options: str | int | bool) -> None:
        """Point mailer.toml at another transport, with its `[transport.<backend>]` table."""
        text = self.config.read_text(encoding="utf-8")
        text = text.replace('backend = "outbox"', f'backend = "{backend}"', 1)
        text = re.sub(rf"\n\[transport\.{backend}\]\n[^\[]*", "\n", text)  # set it anew
        lines = [f"\n[transport.{backend}]"]
        for key, value in options.items():
            shown = str(value).lower() if isinstance(value, bool) else json.dumps(value)
            lines.append(f"{key} = {shown}")
        self.config.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")

    def mailer(self, *args: str, now: datetime | None = NOW) -> Result:
        """Run the real CLI in-process, as of `now` (None: ARGS say when, or the clock).

        A run as of `now` is forced: the tests' moments are fixed, the clock moves on.
        """
        argv = ["--config", str(self.config), *args]
        commands = ("run", "init", "status", "unsubscribe", "check", "jobs")
        if now is not None and args and args[0] in commands:
            argv += ["--now", now.isoformat()]
            if args[0] == "run":
                argv.append("--force")
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    def command(self, *args: str) -> list[str]:
        """`mailer --config <site> ARGS` as a separate process would run it."""
        return [sys.executable, "-m", "mailer", "--config", str(self.config), *args]

    def files(self) -> dict[str, bytes]:
        """Every file of the site (ledger, outbox, workbook, run log), by path, with its bytes."""
        return {
            str(path.relative_to(self.root)): path.read_bytes()
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }

    def job_runs(self) -> dict[str, LastRun]:
        """When each job last ran and how it went, as the ledger's run log holds it."""
        with open_ledger(self.settings()) as ledger:
            return RunLog(ledger, self.root / "state").read()

    def record_run(self, job: JobSettings, started: datetime, ok: bool, summary: str) -> None:
        with open_ledger(self.settings()) as ledger:
            RunLog(ledger, self.root / "state").record(job, started, ok, summary)

    def rows(self, tab: str = "signups") -> list[dict[str, str]]:
        with open(self.root / "lists" / f"{tab}.csv", encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))

    def write_rows(self, tab: str, rows: list[dict[str, str]]) -> None:
        with open(self.root / "lists" / f"{tab}.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def sent(self, digests: bool = False) -> list[dict[str, str]]:
        """Lines of outbox/index.jsonl, one per message delivered: session emails, or digests."""
        index = self.outbox / "index.jsonl"
        if not index.exists():
            return []
        lines = [json.loads(line) for line in index.read_text().splitlines() if line]
        return [line for line in lines if (line["kind"] == "digest") == digests]


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample site as `mailer init` makes it as of NOW, made once; tests get copies."""
    root = tmp_path_factory.mktemp("sample") / "site"
    root.mkdir()
    shutil.copy(REPO / "mailer.toml", root / "mailer.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "jobs", root / "jobs")
    shutil.copytree(REPO / "locales", root / "locales")
    write_sample(SiteDir(root).settings(), NOW)
    return root


@pytest.fixture
def site(tmp_path: Path, sample_site: Path) -> SiteDir:
    """The sample site, with the sample workbook written as of NOW: a test's own copy."""
    root = tmp_path / "site"
    shutil.copytree(sample_site, root)
    return SiteDir(root)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A real PostgreSQL server, shared by the run's xdist workers (see tests/postgres.py)."""
    from postgres import Postgres

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    server = Postgres(shared.name)
    yield server
    server.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a ledger lives, once on each backend: a SQLite file, an empty PostgreSQL database.

    The PostgreSQL half starts a server, so it runs with `make test-all`.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'mailer.db'}"
    return request.getfixturevalue("postgres").database()


@pytest.fixture
def pg_site(site: SiteDir, postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> SiteDir:
    """The sample site with its ledger on PostgreSQL (MAILER_LEDGER_URL, as an image sets it)."""
    monkeypatch.setenv("MAILER_LEDGER_URL", postgres.database())
    return site
