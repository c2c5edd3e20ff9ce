"""A new job kind and a new transport: each is one module and one registry entry.

This module is both. As a job kind ("greetings") it says hello once to each
person with a seat; as a transport ("toy") it keeps what it is handed in a
list. Registered here, in the test suite only, they are picked up by
`mailer check` (which renders the kind's template), `mailer run` (which runs
the kind's job and delivers through the transport), and the send queue's order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from conftest import NOW

from mailer.jobs.base import delivered_text
from mailer.jobs.runner import run_jobs
from mailer.ledger.sqlite import Ledger
from mailer.mail.emails import site_body
from mailer.mail.message import SENT, Draft, OutgoingMessage, SendResult, priority
from mailer.rules.statuses import CONFIRMED
from mailer.sending.transports.base import TransportBase
from mailer.settings import config
from mailer.settings.config import JobSettings, Settings
from mailer.settings.kinds import KINDS, Kind, Options
from mailer.settings.transports import TRANSPORTS
from mailer.site import Site

if TYPE_CHECKING:
    from rich.console import Console

GREETING = "greeting"  # the kind of message the job sends, and its template
TEMPLATE = """{% extends "layout.mjml" %}
{% set subject %}Hello from {{ org.name }}{% endset %}
{% block preview %}A hello before your session.{% endblock %}
{% block content %}
        <mj-text>Hello, {{ person.first_name }}. We are glad you are coming.</mj-text>
{% endblock %}
"""


# The job kind: decide() returns what it decided; the runner records, delivers, writes back.


@dataclass(frozen=True)
class GreetingsOptions(Options):
    template: str = GREETING

    def templates(self) -> list[str]:
        return [self.template]


@dataclass
class GreetingsReport:
    decided: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    sent_when_written_back: int = -1

    def summary(self) -> str:
        return f"{self.decided} new, {delivered_text(self.delivered)}"

    def show(self, console: Console, job: JobSettings) -> None:
        console.print(f"Greetings ({job.name}): {self.summary()}.", highlight=False)


@dataclass
class Greetings:
    drafts: list[Draft]
    report: GreetingsReport = field(default_factory=GreetingsReport)

    def record(self, site: Site, ledger: Ledger) -> None:
        self.report.decided = ledger.add(self.drafts)

    def write_back(self, site: Site, ledger: Ledger) -> None:
        sent = [m for m in ledger.messages() if m.kind == GREETING and m.state == SENT]
        self.report.sent_when_written_back = len(sent)


def decide(site: Site, ledger: Ledger, job: JobSettings, now: datetime) -> Greetings:
    """A hello to each person with a seat (the key makes it once per person and session)."""
    options = job.options_as(GreetingsOptions)
    prepared = site.renderer.prepare(options.template, {"org": site.settings.organization})
    body = site_body(site, prepared)
    seats = [s for s in ledger.seats() if s.status == CONFIRMED]
    return Greetings(
        [
            Draft(
                key=f"{GREETING}:{seat.event_id}:{seat.email}",
                kind=GREETING,
                event_id=seat.event_id,
                to_email=seat.address,
                to_name=seat.name,
                created_at=now.astimezone(UTC),
                body=body,
                person={"first_name": seat.name.split(" ")[0] or "friend"},
            )
            for seat in seats
        ]
    )


# The transport: build(settings) makes it, checked now rather than mid-send.

HANDED: list[OutgoingMessage] = []


class ToyTransport(TransportBase):
    name = "toy"
    batch_size = 10

    def send(self, messages: Sequence[OutgoingMessage]) -> Iterator[SendResult]:
        for message in messages:
            HANDED.append(message)
            yield SendResult(message.key, SENT, provider_id=f"toy-{len(HANDED)}")


def build(settings: Settings) -> ToyTransport:
    return ToyTransport()


# The two registry entries, for these tests only.


@pytest.fixture
def extended(site, monkeypatch):
    """The sample site with a greetings job, its template, and the toy transport."""
    monkeypatch.setitem(KINDS, "greetings", Kind(__name__, GreetingsOptions, frozenset({GREETING})))
    monkeypatch.setitem(TRANSPORTS, "toy", __name__)
    monkeypatch.setenv("MAILER_SECRET", "a-long-random-string-for-signing-links")  # mail leaves
    HANDED.clear()
    (site.root / "jobs" / "greetings.toml").write_text(
        'kind = "greetings"\nevery = "1 hour"\n\n[options]\ntemplate = "greeting"\n'
    )
    (site.root / "templates" / f"{GREETING}.mjml").write_text(TEMPLATE)
    text = site.config.read_text().replace('backend = "outbox"', 'backend = "toy"', 1)
    site.config.write_text(text)
    return site


def test_mailer_check_renders_a_registered_kinds_template(extended):
    template = extended.root / "templates" / f"{GREETING}.mjml"
    template.write_text(TEMPLATE.replace("<mj-text>Hello", "<mj-section><mj-text>Hello"))

    result = extended.mailer("check")

    assert result.exit_code == 1
    assert f"{template}:5: error: <mj-section> cannot go inside <mj-column>" in result.output

    template.write_text(TEMPLATE)
    fixed = extended.mailer("check")

    assert fixed.exit_code == 0, fixed.output
    assert "every email renders" in fixed.output


def test_mailer_run_runs_a_registered_kind_and_delivers_through_a_registered_transport(
    extended,
):
    result = extended.mailer("run")

    assert result.exit_code == 0, result.output
    greetings = [m for m in HANDED if m.kind == GREETING]
    confirmed = [m for m in HANDED if m.kind == "confirmation"]
    assert greetings and len(greetings) == len(confirmed)  # one hello to each seat
    assert "Hello from" in greetings[0].subject and "We are glad" in greetings[0].text
    assert f"Greetings (greetings): {len(greetings)} new, {len(greetings)} sent." in result.output
    assert not extended.outbox.exists(), "nothing went to the outbox"

    again = extended.mailer("run")

    assert again.exit_code == 0, again.output
    assert "Greetings (greetings): 0 new, 0 sent." in again.output


def test_the_runner_writes_back_after_delivery_and_a_kind_declares_its_bulk_mail(extended):
    settings = extended.settings()
    (job,) = [j for j in config.load_jobs(settings) if j.kind == "greetings"]

    outcomes = list(run_jobs(Site.from_settings(settings), [config.SIGNUPS_JOB, job], NOW))

    report = outcomes[-1].report
    assert isinstance(report, GreetingsReport)
    assert report.decided > 0 and report.sent_when_written_back == report.decided
    assert priority(GREETING) == 1 and priority("confirmation") == 0


def test_an_unknown_transport_is_named_with_those_there_are(site):
    text = site.config.read_text().replace('backend = "outbox"', 'backend = "carrier-pigeon"', 1)
    site.config.write_text(text)

    result = site.mailer("run")

    assert result.exit_code != 0
    assert "backend: 'carrier-pigeon': expected one of outbox, smtp, sendgrid" in result.output
