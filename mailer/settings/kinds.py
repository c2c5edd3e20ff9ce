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

from dataclasses import dataclass
from datetime import timedelta

from mailer.core.durations import DAY, MINUTE, minutes, seconds
from mailer.settings.rules import Between, Duration, Text, accepts

TEMPLATE = Text(
    pattern="[A-Za-z0-9_-]+", example="a template's name in templates/, such as reminder"
)


@dataclass(frozen=True)
class Options:
    """A kind's [options]; `problem` names what is wrong with a job's schedule or options."""

    def templates(self) -> list[str]:
        return []

    def problem(self, every: str, at: str) -> str | None:
        return None


@dataclass(frozen=True)
class SignupsOptions(Options):
    # e.g. "12 hours": a freed seat is offered that long (mailer.rules.claims)
    claim_within: str = accepts(
        Duration(MINUTE, 30 * DAY, blank="no offer: a freed seat is confirmed at once"), ""
    )

    @property
    def claim_window(self) -> timedelta | None:
        return timedelta(seconds=seconds(self.claim_within)) if self.claim_within else None


@dataclass(frozen=True)
class ReminderOptions(Options):
    offsets: list[str] = accepts(
        Duration(MINUTE, 60 * DAY, whole_minutes=True), factory=lambda: ["24 hours", "1 hour"]
    )
    template: str = accepts(TEMPLATE, "reminder")

    @property
    def offset_minutes(self) -> list[int]:
        return sorted({minutes(o) for o in self.offsets}, reverse=True)

    def templates(self) -> list[str]:
        return [self.template]


@dataclass(frozen=True)
class DigestOptions(Options):
    template: str = accepts(TEMPLATE, "digest")
    categories: list[str] = accepts(Text(most=200), factory=list)
    upcoming_days: int = accepts(Between(0, 365, "days"), 30)

    def templates(self) -> list[str]:
        return [self.template]

    def problem(self, every: str, at: str) -> str | None:
        return None if at else 'at: a digest needs a slot, such as at = "monday 09:00"'


@dataclass(frozen=True)
class BouncesOptions(Options):
    """A bounces job reads [bounces] in mailer.toml; it has no options of its own."""


@dataclass(frozen=True)
class Kind:
    module: str
    options: type[Options]
    bulk: frozenset[str] = frozenset()
    """The kinds of message this job sends that are bulk mail: they wait behind
    time-critical mail, and an unsubscribe holds them back."""
    sends: bool = True
    """Whether its jobs make mail: the runner delivers after them and the preview
    gallery runs them. False for a kind that only reads and records (bounces)."""


# Bounces first: an address found dead is suppressed before this run writes to it again.
KINDS: dict[str, Kind] = {
    "bounces": Kind("mailer.jobs.bounces", BouncesOptions, sends=False),
    "signups": Kind("mailer.jobs.signups_pass", SignupsOptions),
    "reminders": Kind("mailer.jobs.reminders", ReminderOptions),
    "digest": Kind("mailer.jobs.digest", DigestOptions, bulk=frozenset({"digest"})),
}
