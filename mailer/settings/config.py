"""The settings every command reads: the site's mailer.toml and each job's jobs/<name>.toml.

The site's settings are defined and read in `site_file` and named here too;
a job's (JobSettings, `load_jobs`) are defined here, with the table of job
kinds and their [options] dataclasses (`kinds`), which `mailer status` and the
ledger, reading site_file alone, do not define.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.core.durations import WEEK
from mailer.core.errors import ConfigError
from mailer.settings.kinds import KINDS, BouncesOptions, Options, SignupsOptions
from mailer.settings.rules import Duration, accepts
from mailer.settings.site_file import (
    HIDDEN,
    LOCALIZED,
    POSTGRES_URLS,
    SQLITE_URL,
    BounceSettings,
    ConfirmationText,
    Donation,
    FormSettings,
    LanguageSettings,
    LedgerSettings,
    MonitorSettings,
    Organization,
    PrivacySettings,
    SelfServiceSettings,
    SendgridSettings,
    SeriesSettings,
    ServerSettings,
    Settings,
    SmtpSettings,
    TransportSettings,
    WorkbookSettings,
    build,
    load,
    read_toml,
    shown,
)

__all__ = [
    "BOUNCES_JOB",
    "HIDDEN",
    "LOCALIZED",
    "POSTGRES_URLS",
    "SIGNUPS_JOB",
    "SQLITE_URL",
    "BounceSettings",
    "ConfirmationText",
    "Donation",
    "FormSettings",
    "JobSettings",
    "LanguageSettings",
    "LedgerSettings",
    "MonitorSettings",
    "Organization",
    "PrivacySettings",
    "SelfServiceSettings",
    "SendgridSettings",
    "SeriesSettings",
    "ServerSettings",
    "Settings",
    "SmtpSettings",
    "TransportSettings",
    "WorkbookSettings",
    "load",
    "load_job",
    "load_jobs",
    "read_toml",
]

Opts = TypeVar("Opts", bound=Options)


@dataclass(frozen=True)
class JobSettings:
    """One `jobs/<name>.toml`: what the job is, when it runs, and its options."""

    kind: str
    enabled: bool = True
    # seconds serve tests and a CSV workbook; a Google Sheet wants a minute or more (its quota)
    every: str = accepts(Duration(1, WEEK, blank="a job scheduled by `at`"), "")
    at: str = ""
    timezone: str = ""
    options: Options = field(default_factory=SignupsOptions)
    name: str = ""
    source: Path = Path()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def options_as(self, kind: type[Opts]) -> Opts:
        """The job's options as the dataclass its kind reads."""
        if not isinstance(self.options, kind):
            raise ConfigError(f"{self.source}: [options] are not {kind.__name__}")
        return self.options

    @property
    def schedule_text(self) -> str:
        return f"every {self.every}" if self.every else f"at {self.at} ({self.timezone})"


SIGNUPS_JOB = JobSettings(kind="signups", every="5 minutes", name="signups")
BOUNCES_JOB = JobSettings(
    kind="bounces", every="15 minutes", name="bounces", options=BouncesOptions()
)


def load_jobs(settings: Settings) -> list[JobSettings]:
    """Every job in the site's `jobs/` folder in KINDS order; signups alone if there are none.

    With [bounces] set and no job of that kind, the bounce scan runs every 15 minutes.
    Every problem in every job file is named at once, one line each.
    """
    folder = settings.root / "jobs"
    paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    jobs, problems = [], []
    for path in paths:
        try:
            jobs.append(load_job(path, settings))
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        raise ConfigError("\n".join(problems))
    jobs = jobs or [SIGNUPS_JOB]
    if settings.bounces is not None and not any(job.kind == "bounces" for job in jobs):
        jobs.append(BOUNCES_JOB)
    order = list(KINDS)
    return sorted(jobs, key=lambda job: (order.index(job.kind), job.name))


def load_job(path: Path, settings: Settings) -> JobSettings:
    raw = read_toml(path)
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError(f"{path}: kind: {shown(kind)} is not one of {', '.join(KINDS)}")
    if kind == "bounces" and settings.bounces is None:
        raise ConfigError(f"{path}: kind: a bounces job needs [bounces] in {settings.source}")
    options = raw.pop("options", {})
    problems: list[str] = []
    job = build(JobSettings, {**raw, "name": path.stem, "source": str(path)}, path, "", problems)
    typed = build(KINDS[kind].options, options, path, "options", problems)
    if not isinstance(job, JobSettings) or not isinstance(typed, Options):
        raise ConfigError("\n".join(problems))
    problems += _schedule_problems(job, typed, path)
    zone = job.timezone or settings.organization.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{path}: timezone: unknown time zone {zone!r}")
    if problems:
        raise ConfigError("\n".join(problems))
    return dataclasses.replace(job, options=typed, timezone=zone)


def _schedule_problems(job: JobSettings, options: Options, path: Path) -> list[str]:
    from mailer.rules.slot_text import AT  # jobs' files only: `mailer status` reads none

    if job.every and job.at:
        return [f"{path}: every and at: give one schedule, not both"]
    if not job.every and not job.at:
        return [
            f'{path}: every: give a schedule, such as every = "5 minutes" or at = "monday 09:00"'
        ]
    if job.at and not AT.match(job.at):
        return [f"{path}: at: {shown(job.at)} is not like 'monday 09:00' or '09:00'"]
    problem = options.problem(job.every, job.at)
    return [f"{path}: {problem}"] if problem else []
