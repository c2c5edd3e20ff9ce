"""Every job kind, in the order `mailer run` takes them: its module, [options] and bulk mail.

Each kind is one module in mailer/jobs/ with the same `decide(site, ledger,
job, now) -> Decision` (see jobs/base.py); `jobs/<name>.toml` names the kind and
its [options] table becomes the kind's options dataclass below, whose
`templates()` names the templates `mailer check` looks for. Config, the
runner, the daemon, the command line, `mailer check`, the preview gallery and
the send queue's order all read KINDS, so a new kind is a new module in
mailer/jobs/ and one entry in KINDS. The table names each module by its dotted
path, so settings import nothing from the jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from mailer.core.durations import minutes, seconds


@dataclass(frozen=True)
class Options:
    """A kind's [options]; `problem` names what is wrong with a job's schedule or options."""

    def templates(self) -> list[str]:
        return []

    def problem(self, every: str, at: str) -> str | None:
        return None


@dataclass(frozen=True)
class SignupsOptions(Options):
    claim_within: str = (
        ""  # e.g. "12 hours": a freed seat is offered that long (mailer.rules.claims)
    )

    @property
    def claim_window(self) -> timedelta | None:
        return timedelta(seconds=seconds(self.claim_within)) if self.claim_within else None

    def problem(self, every: str, at: str) -> str | None:
        try:
            self.claim_window  # noqa: B018 - validates the duration
        except ValueError as err:
            return f"[options] claim_within: {err}"
        return None


@dataclass(frozen=True)
class ReminderOptions(Options):
    offsets: list[str] = field(default_factory=lambda: ["24 hours", "1 hour"])
    template: str = "reminder"

    @property
    def offset_minutes(self) -> list[int]:
        return sorted({minutes(o) for o in self.offsets}, reverse=True)

    def templates(self) -> list[str]:
        return [self.template]

    def problem(self, every: str, at: str) -> str | None:
        for i, offset in enumerate(self.offsets):
            try:
                minutes(offset)
            except ValueError as err:
                return f"[options] offsets[{i}]: {err}"
        return None


@dataclass(frozen=True)
class DigestOptions(Options):
    template: str = "digest"
    categories: list[str] = field(default_factory=list)
    upcoming_days: int = 30

    def templates(self) -> list[str]:
        return [self.template]

    def problem(self, every: str, at: str) -> str | None:
        return None if at else 'at: a digest needs a slot, such as at = "monday 09:00"'


@dataclass(frozen=True)
class Kind:
    module: str
    options: type[Options]
    bulk: frozenset[str] = frozenset()
    """The kinds of message this job sends that are bulk mail: they wait behind
    time-critical mail, and an unsubscribe holds them back."""


KINDS: dict[str, Kind] = {
    "signups": Kind("mailer.jobs.signups", SignupsOptions),
    "reminders": Kind("mailer.jobs.reminders", ReminderOptions),
    "digest": Kind("mailer.jobs.digest", DigestOptions, bulk=frozenset({"digest"})),
}
