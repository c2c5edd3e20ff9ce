"""The `mailer` command: set up a site, run its jobs, and show what they decided.

Each command imports what it needs when it runs, so `mailer --help` and
`mailer status` start quickly.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from mailer.mail.message import OutgoingMessage
    from mailer.sending.transports.memory import MemoryTransport
    from mailer.settings import config
    from mailer.tools import checks

log = logging.getLogger("mailer")
QUICK = (
    "status",
    "unsubscribe",
    "resubscribe",
    "retry",
    "health",
)  # plain log lines: no rich to load
CONFIG_HELP = "The site's settings file (default: mailer.toml, or $MAILER_CONFIG)."


class Context:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        self._console: Console | None = None

    def settings(self) -> config.Settings:
        """The site's settings; its jobs' (config.load_jobs) are read where they run."""
        from mailer.settings import site_file

        return site_file.load(self.config_path)

    @property
    def console(self) -> Console:
        if self._console is None:
            from mailer.cli.pipe_console import rich_console

            self._console = rich_console()
        return self._console

    def run_console(self) -> Console:
        """Where `run` prints: as `console` would, loading rich only for more than plain lines."""
        from mailer.cli.pipe_console import PipeConsole, writes_to_pipe

        if self._console is None and writes_to_pipe(sys.stdout):
            # A PipeConsole prints what the Console would and passes it the rest.
            self._console = cast("Console", PipeConsole())
        return self.console


def parse_now(value: str | None, zone: ZoneInfo, clock: datetime | None = None) -> datetime:
    """The moment a command runs as of: --now, or the clock (read here, at the edge, only).

    A time without an offset is a wall-clock time in the organization's zone.
    """
    from mailer.core.moments import parse_moment

    if not value:
        return clock or datetime.now(zone)
    try:
        return parse_moment(value, zone)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--now") from None


class UserError(click.ClickException):
    """A one-line error for people: `error: <what, where, what to do>`; exits 1."""

    def show(self, file: Any = None) -> None:
        from mailer.core.redact import redact

        # Whatever a server or a library echoed (a key, an address) is blanked here too.
        for line in self.message.splitlines() or [""]:
            click.echo(f"error: {redact(line)}", err=True)


def _set_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """`--config` after the subcommand overrides one given before it."""
    if value is not None:
        ctx.ensure_object(Context).config_path = value


class SettingsError(UserError):
    """The settings are wrong: exits 2."""

    exit_code = 2


class MailerGroup(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.append(
            click.Option(
                ["--config"],
                type=click.Path(path_type=Path, dir_okay=False),
                expose_value=False,
                callback=_set_config,
                help=CONFIG_HELP,
            )
        )
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        from mailer.core.errors import ConfigError, MailerError

        try:
            return super().invoke(ctx)
        except ConfigError as err:
            raise SettingsError(str(err)) from err
        except MailerError as err:
            raise UserError(str(err)) from err


now_option = click.option(
    "--now",
    metavar="ISO",
    help="Run as of this moment (e.g. 2026-12-01T09:00); without an offset, in the "
    "organization's time zone.",
)


@click.group(cls=MailerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default="mailer.toml",
    envvar="MAILER_CONFIG",
    help=CONFIG_HELP,
)
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, verbose: bool) -> None:
    """Signups, waitlists and emails for small online sessions, run from a spreadsheet.

    \b
    Example:
      mailer init          # a sample workbook in lists/
      mailer run           # confirm, waitlist, email, write statuses back
      mailer run --dry-run --now 2026-12-02T09:00   # what would go out then; changes nothing
      mailer status        # who holds a seat, who waits
      mailer preview       # every email, rendered, in preview/index.html
      mailer check         # settings, sheet columns and templates, for CI
      mailer daemon        # the jobs on their schedules, until stopped
    """
    ctx.obj = Context(config_path)
    if ctx.invoked_subcommand in ("daemon", None):
        return  # the daemon sets up its own plain log lines
    from mailer.core.redact import RedactingFormatter

    handler: logging.Handler
    if ctx.invoked_subcommand in QUICK:
        handler = logging.StreamHandler()
        handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    else:
        from mailer.cli.pipe_console import RichOnFirstLog

        handler = RichOnFirstLog()
        handler.setFormatter(RedactingFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


@cli.command()
@now_option
@click.pass_obj
def init(obj: Context, now: str | None) -> None:
    """Write a sample workbook into the workbook folder, unless it already holds one.

    The sample session is the next Wednesday at least three days ahead, so it
    never goes stale. Example: mailer init
    """
    from mailer.tools.sample import write_sample

    settings = obj.settings()
    console = obj.console
    if settings.workbook.backend != "csv":
        console.print("The workbook is not a CSV folder; nothing to write.")
        return
    written = write_sample(settings, parse_now(now, settings.organization.zone))
    if written:
        console.print(f"Wrote a sample workbook: {', '.join(p.name for p in written)}")
        console.print(f"  in {settings.workbook.path}", soft_wrap=True)
    else:
        console.print(
            f"{settings.workbook.path} already holds a workbook; left it alone.", soft_wrap=True
        )


@cli.command()
@click.argument("job", required=False)
@now_option
@click.option("--no-send", is_flag=True, help="Decide and write back, but send nothing yet.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would be sent at --now; write, send and use up nothing.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Run for real at a --now more than a day from the clock.",
)
@click.pass_obj
def run(
    obj: Context, job: str | None, now: str | None, no_send: bool, dry_run: bool, force: bool
) -> None:
    """Run the jobs in jobs/ once: every enabled one, signups first, or only JOB.

    The signups job reads the workbook, holds each session to capacity,
    emails what is due and writes each person's Status back; reminders
    remind confirmed people before their session; the digest goes out once
    per slot. A job that fails is reported and the others still run.

    With --dry-run the jobs decide as of --now against a scratch copy of the
    ledger: each email that would go out is listed, and the ledger, the
    outbox and the workbook are left exactly as they were. A --now more
    than a day from the clock runs for real only with --force.

    Example: mailer run reminders --dry-run --now 2026-12-01T11:00
    """
    from mailer.cli.progress import SendProgress
    from mailer.core.moments import describe_gap, far_from_clock
    from mailer.jobs.runner import run_jobs
    from mailer.settings import config
    from mailer.site import Site

    if dry_run and no_send:
        raise click.UsageError("--dry-run already sends nothing; give one of the two")
    settings = obj.settings()
    console = obj.run_console()
    jobs = config.load_jobs(settings)
    if job:
        chosen = [j for j in jobs if job in (j.name, j.kind)]
        if not chosen:
            names = ", ".join(j.name for j in jobs)
            raise click.BadParameter(f"no job named {job!r} (jobs: {names})", param_hint="JOB")
    else:
        chosen = [j for j in jobs if j.enabled]
    clock = datetime.now(settings.organization.zone)
    moment = parse_now(now, settings.organization.zone, clock)
    if not (dry_run or force) and (gap := far_from_clock(moment, clock)):
        raise click.UsageError(
            f"--now {now} is {describe_gap(gap)} from the clock"
            f" ({clock:%a %b %d %Y %H:%M %Z}): a run then would send real email and use up"
            " what is due then; add --force if that is meant, or look first with --dry-run"
        )
    site = Site.from_settings(settings)
    failed = []
    where: AbstractContextManager[tuple[Site, MemoryTransport | None]]
    if dry_run:
        from mailer.jobs.dry_run import dry_run as scratch

        where = scratch(site)
    else:
        where = nullcontext((site, None))
    with where as (used, memory):
        if dry_run:
            console.print(
                f"Dry run as of {moment:%a %b %d %H:%M %Z}: nothing is written, sent or used up.",
                highlight=False,
            )
        for outcome in run_jobs(
            used,
            chosen,
            moment,
            send=not no_send,
            record=not (no_send or dry_run or now),
            progress=lambda: SendProgress(console),
            dry_run=dry_run,
            notify=not dry_run,
            retention=True,
        ):
            if outcome.report is None:
                failed.append(f"{outcome.job.name}: {outcome.error}")
            else:
                outcome.report.show(console, outcome.job)
                failed += [f"{outcome.job.name}: {step}" for step in outcome.failed_steps]
        if memory is not None:
            _print_would_send(console, memory.sent)
    if failed:
        raise UserError("\n".join(failed))  # one `error:` line per job


def _print_would_send(console: Console, messages: list[OutgoingMessage]) -> None:
    """One line per email: kind, session, masked recipient, subject."""
    from mailer.core.redact import mask
    from mailer.core.text import plural

    if not messages:
        console.print("Would send no email.")
        return
    console.print(f"Would send {plural(len(messages), 'email')}:")
    for message in messages:
        to = _person(message.to_name, mask(message.to_email))
        console.print(
            f"  {message.kind} | {message.event_id or '-'} | {to} | {message.subject}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _person(name: str, address: str) -> str:
    """'Maya Okafor <m***@example.org>', or the address alone when there is no name."""
    return f"{name} <{address}>" if name else address


@cli.command()
@now_option
@click.option("--all", "show_all", is_flag=True, help="Include sessions that have ended.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--addresses", is_flag=True, help="Show full addresses instead of masked ones.")
@click.pass_obj
def status(obj: Context, now: str | None, show_all: bool, as_json: bool, addresses: bool) -> None:
    """Show each session's roster as the last run decided it, and messages not yet sent.

    Lists sessions that have not ended as of --now (default: now). Reads the
    ledger only, no spreadsheet calls. Addresses are masked, in --json too,
    unless --addresses. Example: mailer status --json
    """
    from mailer.core.redact import mask, redact
    from mailer.ledger import open_ledger
    from mailer.sending.pacing import forecast, pause_in_force
    from mailer.sending.transports import limits

    settings = obj.settings()
    moment = parse_now(now, settings.organization.zone)
    backend = settings.transport.backend
    with open_ledger(settings) as ledger:
        events = [
            stored.event
            for stored in ledger.stored_events().values()
            if show_all or stored.event.ends_at > moment
        ]
        seats = ledger.seats()
        unsent = ledger.messages(UNSENT)
        bounces = ledger.bounces()
        suppressed = ledger.suppressions_among(b.email for b in bounces)
        queue = Queue(
            pause_in_force(ledger, backend, moment),
            forecast(ledger, limits(settings), backend, moment),
        )

    def show(email: str) -> str:
        return email if addresses else mask(email)

    def why(reason: str) -> str:
        return redact(reason, addresses=addresses)

    roster: dict[str, list[Any]] = {e.id: [] for e in events}
    names = {}
    for seat in seats:
        roster.setdefault(seat.event_id, []).append(seat)
        names[(seat.event_id, seat.email)] = seat.name
    if as_json:
        data = {
            "events": [
                {
                    "id": event.id,
                    "title": event.title,
                    "starts_at": event.starts_at.isoformat(),
                    "ends_at": event.ends_at.isoformat(),
                    "capacity": event.capacity,
                    "status": event.status,
                    "seats": [
                        {
                            "email": show(s.email),
                            "name": s.name,
                            "status": s.status,
                            "position": s.position,
                            "row": s.row,
                        }
                        for s in roster[event.id]
                    ],
                }
                for event in events
            ],
            "unsent": [
                {
                    "key": why(m.key),
                    "state": m.state,
                    "reason": why(m.reason),
                    "attempts": m.attempts,
                }
                for m in unsent
            ],
            "paused_until": queue.paused_until(moment),
            "expected": [{"from": at.isoformat(), "messages": n} for at, n in queue.waves],
            "bounces": [
                {
                    "email": show(b.email),
                    "kind": b.kind,
                    "status": b.status,
                    "diagnostic": why(b.diagnostic),
                    "message": why(b.message_key),
                    "at": b.at,
                    "suppressed": suppressed.get(b.email, ""),
                }
                for b in bounces
            ],
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from mailer.core.text import columns

    if not events:
        click.echo("Nothing to show: no upcoming session decided yet (`mailer run`, or --all).")
    for event in events:
        people = roster[event.id]
        confirmed = [s for s in people if s.status == "confirmed"]
        waiting = sorted((s for s in people if s.status == "waitlisted"), key=lambda s: s.position)
        starts = event.starts_at
        cancelled = " (cancelled)" if event.cancelled else ""
        click.echo(
            f"{event.title} ({event.id}){cancelled}, {starts:%a %b %d %H:%M %Z}: "
            f"{len(confirmed)}/{event.capacity} confirmed, {len(waiting)} waitlisted"
        )
        rows = [
            [
                seat.status,
                str(seat.position or ""),
                _person(seat.name, show(seat.email)),
                str(seat.row),
            ]
            for seat in confirmed + waiting + [s for s in people if s.status == "cancelled"]
        ]
        table = columns(["Status", "Place", "Person", "Sheet row"], rows)
        click.echo("".join(f"  {line}\n" for line in table))  # one write: a roster has thousands
    _print_unsent(
        unsent, lambda m: _person(names.get((m.event_id, m.email), ""), show(m.email)), why
    )
    _print_queue(queue, moment, settings.organization.zone)
    _print_bounces(bounces, suppressed, show, why)


# "sending" outside a run: that run was killed mid-send; the next run calls them unknown.
UNSENT = ("pending", "retry", "failed", "unknown", "sending")
LISTED_WAITING = 20  # beyond this, waiting messages are counted by kind, not listed
LISTED_BOUNCES = 20  # the newest bounces listed; --json has them all


class Queue(NamedTuple):
    pause: tuple[datetime, str] | None
    waves: list[tuple[datetime, int]]

    def paused_until(self, now: datetime) -> str | None:
        return self.pause[0].isoformat() if self.pause and self.pause[0] > now else None


def _print_unsent(
    unsent: list[Any], recipient: Callable[[Any], str], why: Callable[[str], str]
) -> None:
    """Failed and unknown messages one by one; waiting ones too, or by kind when many."""
    waiting = [m for m in unsent if m.state in ("pending", "retry")]
    listed = [m for m in unsent if m.state in ("failed", "unknown", "sending")]
    if len(waiting) <= LISTED_WAITING:
        listed = waiting + listed
    else:
        kinds = Counter(m.kind for m in waiting)
        by_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        click.echo(f"waiting: {len(waiting)} ({by_kind})")
    for message in listed:
        click.echo(
            f"{message.state}: {message.kind}"
            + (f" for {message.event_id}" if message.event_id else "")
            + f" to {recipient(message)}"
            + (f" ({why(message.reason)})" if message.reason else "")
        )
    unknown = sum(1 for m in unsent if m.state in ("unknown", "sending"))
    if unknown:
        click.echo(
            f"{unknown} unknown: handed to the provider with no answer back, so they may have"
            " arrived. SendGrid's webhook settles them; `mailer retry --unknown` sends them again."
        )


def _print_bounces(
    bounces: list[Any],
    suppressed: dict[str, str],
    show: Callable[[str], str],
    why: Callable[[str], str],
) -> None:
    """The latest bounces and complaints read from the sending mailbox ([bounces])."""
    if not bounces:
        return
    click.echo(f"Bounces read from the mailbox ({len(bounces)}, newest first):")
    for b in bounces[:LISTED_BOUNCES]:
        what = "complaint" if b.kind == "complaint" else f"{b.kind} bounce {b.status}"
        said = f" ({why(b.diagnostic)})" if b.diagnostic else ""
        reason = suppressed.get(b.email)
        verdict = f"suppressed ({reason})" if reason else "counted"
        click.echo(f"  {b.at[:16]}Z {show(b.email)}: {what}{said}: {verdict}")


def _print_queue(queue: Queue, now: datetime, zone: ZoneInfo) -> None:
    """When the waiting messages are expected to go, as the limits and any pause allow."""
    from mailer.core.redact import redact

    if queue.pause and queue.pause[0] > now:
        until, reason = queue.pause
        click.echo(
            f"Sending paused until {until.astimezone(zone):%a %b %d %H:%M %Z}"
            f" ({redact(reason)}); the next run after that goes on"
            " (`mailer retry --resume` lifts it now)."
        )
    if not queue.waves:
        return
    parts = [
        f"{n} {'now' if at <= now else f'from {at.astimezone(zone):%a %b %d %H:%M %Z}'}"
        for at, n in queue.waves
    ]
    click.echo(f"Expected to go: {', '.join(parts)} (time-critical mail first, then the digest).")


@cli.command()
@click.pass_obj
def daemon(obj: Context) -> None:
    """Run every enabled job on its schedule until stopped (SIGTERM or Ctrl-C).

    On start it runs each job that is due, so a restart catches up; then one
    job at a time, a log line per run. A failing job is logged and the daemon
    goes on; a signal lets the running job finish first. Example: mailer daemon
    """
    from mailer.core.redact import RedactingFormatter
    from mailer.jobs.daemon import Daemon
    from mailer.settings import config

    settings = obj.settings()
    jobs = config.load_jobs(settings)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    runner = Daemon(settings, jobs)
    runner.install_signal_handlers()
    runner.run()


@cli.command()
@click.option(
    "--max-age",
    type=click.IntRange(min=1),
    default=120,
    show_default=True,
    help="Seconds without a heartbeat before an idle daemon counts as stuck.",
)
@click.option(
    "--max-job",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds one job may run before the daemon counts as stuck.",
)
@click.option("--url", help="Ask a running `mailer serve` instead, at this /healthz address.")
@click.pass_obj
def health(obj: Context, max_age: int, max_job: int, url: str | None) -> None:
    """Say whether the daemon is alive (from its heartbeat); exit 0 if so, 1 if not.

    The daemon writes state/daemon-heartbeat.json as it goes; a container's
    HEALTHCHECK runs this. With --url it asks `mailer serve` instead, which
    answers 200 when it can reach the ledger. Example: mailer health --max-age 300
    """
    from datetime import UTC

    from mailer.jobs import heartbeat

    if url:
        healthy, line = _serve_health(url)
    else:
        folder = obj.settings().ledger.state_folder
        healthy, line = heartbeat.verdict(
            heartbeat.read_beat(folder),
            datetime.now(UTC),
            timedelta(seconds=max_age),
            timedelta(seconds=max_job),
        )
    click.echo(line)
    if not healthy:
        raise SystemExit(1)


def _serve_health(url: str) -> tuple[bool, str]:
    """(healthy, one line) from GET `url`: a `mailer serve` /healthz."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return True, f"ok: {url} answered {answer.status}"
    except urllib.error.HTTPError as err:
        return (
            False,
            f"unhealthy: {url} answered {err.code}: {err.read().decode(errors='replace').strip()}",
        )
    except (OSError, ValueError) as err:
        return False, f"unhealthy: {url} did not answer ({err})"


@cli.command("jobs")
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def list_jobs(obj: Context, now: str | None, as_json: bool) -> None:
    """List the jobs in jobs/, their schedules, last run and next run. Example: mailer jobs"""
    from mailer.jobs.runlog import RunLog
    from mailer.ledger import open_ledger
    from mailer.rules.schedules import next_run
    from mailer.settings import config

    settings = obj.settings()
    moment = parse_now(now, settings.organization.zone)
    with open_ledger(settings) as ledger:
        runs = RunLog(ledger, settings.ledger.state_folder).read()
    zone = settings.organization.zone
    listed = []
    for job in config.load_jobs(settings):
        last = runs.get(job.name)
        listed.append((job, last, next_run(job, last, moment)))
    if as_json:
        data = [
            {
                "name": job.name,
                "kind": job.kind,
                "schedule": job.schedule_text,
                "enabled": job.enabled,
                "last_run": last.started.isoformat() if last else None,
                "last_ok": last.ok if last else None,
                "last_summary": last.summary if last else None,
                "next_run": upcoming.isoformat() if job.enabled else None,
            }
            for job, last, upcoming in listed
        ]
        click.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(title="Jobs", title_justify="left")
    for column in ("Job", "Kind", "Schedule", "Enabled", "Last run", "Next run"):
        table.add_column(column)
    for job, last, upcoming in listed:
        shown_last = "never"
        if last is not None:
            outcome = last.summary if last.ok else f"failed: {last.summary}"
            shown_last = f"{last.started.astimezone(zone):%a %b %d %H:%M} ({outcome})"
        shown_next = (
            "now" if upcoming <= moment else f"{upcoming.astimezone(zone):%a %b %d %H:%M %Z}"
        )
        table.add_row(
            job.name,
            job.kind,
            job.schedule_text,
            "yes" if job.enabled else "no",
            shown_last,
            shown_next if job.enabled else "-",
        )
    obj.console.print(table)


@cli.command()
@now_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the gallery (default: preview/ beside mailer.toml).",
)
@click.pass_obj
def preview(obj: Context, now: str | None, out: Path | None) -> None:
    """Render every email into preview/index.html, with screenshots at 600 and 375 px.

    The emails are made by the site's own jobs from the sample workbook, in
    a scratch folder: nothing is sent and the real workbook is not touched.
    Example: mailer preview && xdg-open preview/index.html
    """
    from mailer.core.text import plural
    from mailer.tools.preview import build as build_preview

    settings = obj.settings()
    console = obj.console
    folder = out or settings.root / "preview"
    result = build_preview(settings, parse_now(now, settings.organization.zone), folder)
    for entry in result.entries:
        shots = len(entry.shots)
        warn = f", {plural(len(entry.warnings), 'warning')}" if entry.warnings else ""
        subject = entry.specimen.message.subject
        console.print(
            f"  {entry.specimen.label}: {subject} ({plural(shots, 'screenshot')}{warn})",
            highlight=False,
            markup=False,
        )
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    console.print(f"Screenshots: {result.screenshots}.", highlight=False, markup=False)
    console.print(f"Wrote {result.index}", highlight=False)
    if result.errors:
        raise UserError(f"{plural(len(result.errors), 'template')} failed to render")


@cli.command()
@now_option
@click.option(
    "--no-workbook",
    is_flag=True,
    help="Leave the workbook out: for CI that has neither the sheet's key nor the lists.",
)
@click.pass_obj
def check(obj: Context, now: str | None, no_workbook: bool) -> None:
    """Check settings, jobs, the workbook's tabs and columns, and every template.

    Templates are rendered into every email the jobs make from the sample
    workbook and checked for undefined variables, alt text, language, https
    links, clear link text, text size and Gmail's 102 KB limit. Exits 1 on any
    error, so CI can run it. Example: mailer check (in CI: mailer check --no-workbook)
    """
    from mailer.core.text import plural
    from mailer.tools import checks

    settings = obj.settings()
    console = obj.console
    moment = parse_now(now, settings.organization.zone)
    console.print(f"[bold]Settings[/bold]: {settings.source} is valid.", highlight=False)
    jobs, findings = checks.check_jobs(settings)
    for job in jobs:
        schedule = f"every {job.every}" if job.every else f"at {job.at} {job.timezone}"
        state = "" if job.enabled else " (disabled)"
        console.print(f"  job {job.name}: {job.kind}, {schedule}{state}", highlight=False)
    workbook = (
        checks.WorkbookReport() if no_workbook else checks.check_workbook(settings, None, moment)
    )
    if no_workbook:
        console.print("[bold]Workbook[/bold]: not checked (--no-workbook).", highlight=False)
    findings += workbook.findings
    if workbook.describe:
        tabs = ", ".join(repr(t) for t in workbook.tabs_in_workbook) or "none"
        console.print(f"[bold]Workbook[/bold]: {workbook.describe}; tabs: {tabs}", highlight=False)
    for tab in workbook.tabs:
        if not tab.exists:
            continue
        saved = f" ({tab.saved_as})" if tab.saved_as else ""
        console.print(
            f"  {tab.logical} = {tab.name!r}{saved}: found {plural(len(tab.header), 'column')}:"
            f" {', '.join(repr(h) for h in tab.header) or '-'}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if tab.missing_required:
            console.print(f"    missing: {', '.join(tab.missing_required)}", highlight=False)
        if tab.missing_optional:
            console.print(
                f"    not there (optional, or added on the first write): "
                f"{', '.join(tab.missing_optional)}",
                highlight=False,
            )
    if settings.form.id and not no_workbook:
        findings += _print_form_check(console, checks.check_form(settings, moment))
    findings += checks.check_templates(settings, moment)
    said, gaps = checks.check_translations(settings)
    for line in said:
        console.print(f"[bold]Translations[/bold]: {line}", highlight=False)
    findings += gaps
    errors = [f for f in findings if f.severity == checks.ERROR]
    for finding in findings:
        click.echo(str(finding))
    warnings = plural(len(findings) - len(errors), "warning")
    if errors:
        raise UserError(f"{plural(len(errors), 'error')}, {warnings}")
    console.print(f"[bold]Templates[/bold]: every email renders. {warnings}.")


def _print_form_check(console: Console, form: checks.FormCheck) -> list[checks.Finding]:
    if form.findings:
        return form.findings
    state = {True: "accepting responses", False: "not accepting responses", None: ""}
    console.print(
        f"[bold]Signup form[/bold]: question {form.question!r}, {state[form.accepting]}",
        highlight=False,
    )
    for option in form.options:
        console.print(f"  now: {option}", markup=False, highlight=False)
    if form.in_step:
        console.print("  the next run changes nothing", highlight=False)
        return []
    for option in form.wanted:
        console.print(f"  next run: {option}", markup=False, highlight=False)
    if form.accepting is not None and form.accepting != form.wanted_accepting:
        verb = "opens" if form.wanted_accepting else "closes"
        console.print(f"  the next run {verb} the form", highlight=False)
    return []


@cli.command()
@click.option(
    "--unknown",
    "unknown",
    is_flag=True,
    help="Also send again the messages whose fate is unknown (each may arrive twice).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Lift a pause a provider asked for, so the next run sends at once.",
)
@click.option("--addresses", is_flag=True, help="Show full addresses instead of masked ones.")
@click.pass_obj
def retry(obj: Context, unknown: bool, resume: bool, addresses: bool) -> None:
    """Queue failed messages again; the next `mailer run` sends them.

    Messages whose fate is unknown (a timeout after the provider had the
    message, a run killed mid-send) are listed; with --unknown they are
    queued again too, at the risk of a second copy. With --resume a pause
    a provider asked for (a rate limit, a day's quota) is lifted.
    Example: mailer retry --unknown
    """
    from mailer.core.redact import mask, redact
    from mailer.core.text import plural
    from mailer.ledger import open_ledger

    settings = obj.settings()
    with open_ledger(settings) as ledger, ledger.run_lock(settings.ledger.lock_timeout):
        ledger.interrupted()  # claims whose holder is gone: these were cut off
        unknowns = ledger.messages(("unknown",))
        count = ledger.retry_failed()
        requeued = ledger.requeue_unknown() if unknown else 0
        lifted = ledger.resume() if resume else []
    console = obj.console
    for transport, until, why in lifted:
        console.print(
            f"Lifted the pause of {transport} until {until.isoformat(timespec='minutes')}"
            f" ({redact(why)}): the next run sends.",
            markup=False,
            highlight=False,
        )
    if resume and not lifted:
        console.print("Sending was not paused.")
    console.print(f"{plural(count, 'failed message')} queued again.")
    for message in unknowns:
        shown = message.email if addresses else mask(message.email)
        console.print(f"unknown: {message.kind} to {shown}", markup=False, highlight=False)
    if requeued:
        console.print(f"{plural(requeued, 'unknown message')} queued again.")
    elif unknowns:
        console.print(
            f"{plural(len(unknowns), 'unknown message')} left as they are: each may have"
            " arrived; `mailer retry --unknown` sends them again."
        )


def _claim_window(settings: config.Settings) -> timedelta | None:
    """How long an offered seat may be claimed, as the signups job has it."""
    from mailer.settings.config import load_jobs
    from mailer.settings.kinds import SignupsOptions

    for job in load_jobs(settings):
        if isinstance(job.options, SignupsOptions) and job.options.claim_window:
            return job.options.claim_window
    return None


@cli.command()
@click.option("--host", help="Address to listen on (default: [server] host).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to listen on (default: [server] port)."
)
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the digest's unsubscribe pages and one-click unsubscribe (RFC 8058).

    It also serves the pages behind the emails' release and claim links
    (/seat/<token>). With [server] sendgrid_event_key set it also takes SendGrid's signed Event
    Webhook at /sendgrid/events (bounces, spam reports). Put it behind your
    HTTPS proxy at [server] public_url. Example: mailer serve --port 8080
    """
    from mailer.mail.speech import site_speeches
    from mailer.settings.secret import site_secret
    from mailer.site import site_renderer
    from mailer.web.app import create_app
    from mailer.web.server import create_server

    settings = obj.settings()
    claim_window = _claim_window(settings)  # the job files are checked before anything is made
    secret = site_secret(settings)
    app = create_app(
        settings.ledger.url,
        secret,
        settings.organization.name,
        sendgrid_key=settings.server.sendgrid_event_key,
        public_url=settings.server.public_url,
        claim_window=claim_window,
        languages=site_speeches(settings, site_renderer(settings).catalogs),
    )
    host = host or settings.server.host
    port = port or settings.server.port
    server = create_server(app, host, port)
    console = obj.console
    console.print(f"Serving on http://{host}:{port}/ (Ctrl-C stops):", highlight=False)
    for line in _pages(app):
        console.print(f"  {line}", highlight=False, markup=False)
    console.file.flush()  # seen at once in a service's log, not when the buffer fills
    # SIGTERM (systemctl stop, podman stop) stops it as Ctrl-C does: as a container's first
    # process it would otherwise be ignored, and the stop would wait for the kill.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()  # returns on KeyboardInterrupt, once its workers finish what they hold
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    console.print("Stopped.", highlight=False)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _pages(app: Any) -> list[str]:
    """Each route the app answers: its methods and path, e.g. 'GET, POST /unsubscribe/<token>'."""
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            methods.setdefault(rule.rule, set()).update(rule.methods or ())
    return [
        f"{', '.join(m for m in ('GET', 'POST') if m in methods[path]):<10} {path}"
        for path in sorted(methods)
    ]


@cli.command()
@click.argument("email")
@now_option
@click.pass_obj
def unsubscribe(obj: Context, email: str, now: str | None) -> None:
    """Stop the digest for EMAIL, as its unsubscribe link would.

    It is written into the Subscribers tab at once (unsubscribed_on; a row is
    added for someone who opted in on the form), so the sheet keeps it even
    if the ledger is lost. Example: mailer unsubscribe someone@example.org
    """
    from mailer.core.errors import MailerError
    from mailer.core.redact import mask
    from mailer.jobs.subscribers import sync_unsubscribes
    from mailer.ledger import open_ledger
    from mailer.model import normalize_email
    from mailer.sheet.tabs import InvalidAddress, deliverable_address
    from mailer.site import Site

    try:
        address = normalize_email(deliverable_address(email.strip()))
    except InvalidAddress as err:
        raise click.BadParameter(
            f"{mask(email)} is not an email address ({err})", param_hint="EMAIL"
        ) from None
    settings = obj.settings()
    console = obj.console
    moment = parse_now(now, settings.organization.zone)
    with open_ledger(settings) as ledger:
        ledger.suppress(address, "unsubscribe", moment)
        console.print(f"{mask(address)} will get no more digests.", highlight=False)
        try:
            synced = sync_unsubscribes(Site.from_settings(settings), ledger)
        except MailerError as err:
            console.print(
                f"The sheet could not be written now ({err}); the next run writes it.",
                highlight=False,
                markup=False,
            )
            return
    if address not in synced.readers:
        console.print(
            f"{mask(address)} is on no list: not in the Subscribers tab, and no signup opted "
            "in to the digest with it. Check the spelling; it stays suppressed all the same.",
            highlight=False,
        )


@cli.command()
@click.argument("email")
@click.pass_obj
def resubscribe(obj: Context, email: str) -> None:
    """Take EMAIL off the suppression list: an unsubscribe, a spam report or a bounce.

    Its unsubscribed_on cell in the Subscribers tab is cleared too, so the
    next digest reaches it. Example: mailer resubscribe someone@example.org
    """
    from mailer.core.errors import MailerError
    from mailer.core.redact import mask
    from mailer.jobs.subscribers import clear_unsubscribe
    from mailer.ledger import open_ledger
    from mailer.model import normalize_email
    from mailer.site import Site

    settings = obj.settings()
    console = obj.console
    with open_ledger(settings) as ledger:
        lifted = ledger.unsuppress(normalize_email(email))
    if not lifted:
        console.print(f"{mask(email)} was not on the suppression list.", highlight=False)
        return
    console.print(
        f"{mask(email)} is off the suppression list (was: {', '.join(lifted)}).",
        highlight=False,
    )
    try:
        cleared = clear_unsubscribe(Site.from_settings(settings), normalize_email(email))
    except MailerError as err:
        cleared = 0
        console.print(f"The sheet could not be written ({err}).", highlight=False, markup=False)
    if cleared:
        console.print("Its unsubscribed_on date in the Subscribers tab is cleared.")


@cli.command()
@click.option(
    "--from",
    "source",
    metavar="URL",
    help="The ledger to copy (default: this site's, [ledger] url or MAILER_LEDGER_URL).",
)
@click.option("--to", "target", metavar="URL", required=True, help="An empty ledger to fill.")
@click.pass_obj
def migrate(obj: Context, source: str | None, target: str) -> None:
    """Move the site's memory to another ledger: every seat, message, suppression and run.

    Run it with mailer stopped, then point [ledger] url (or MAILER_LEDGER_URL)
    at the new ledger. Nothing is lost and nothing is sent again: a message
    that was sent stays sent, one in flight stays unknown. The password of a
    PostgreSQL ledger comes from MAILER_LEDGER_PASSWORD(_FILE). Example:
    mailer migrate --from sqlite:///state/mailer.db --to postgresql://mailer@db/mailer
    """
    from mailer.core.text import plural
    from mailer.ledger import open_ledger
    from mailer.ledger.copy import copy_ledger
    from mailer.settings.config import SQLITE_URL

    settings = obj.settings()
    root = settings.source.parent

    def located(url: str) -> str:
        """A relative SQLite path is the site's, as in [ledger] url."""
        path = Path(url.removeprefix(SQLITE_URL))
        if url.startswith(SQLITE_URL) and not path.is_absolute():
            return SQLITE_URL + str(root / path)
        return url

    with (
        open_ledger(located(source) if source else settings) as old,
        open_ledger(located(target)) as new,
        old.run_lock(settings.ledger.lock_timeout),
    ):
        copied = copy_ledger(old, new)
        where = (old.where, new.where)
    obj.console.print(
        f"Copied {plural(copied['messages'], 'message')}, {plural(copied['seats'], 'seat')} "
        f"and {plural(copied['suppressions'], 'suppression')} from {where[0]} to {where[1]}.",
        markup=False,
        highlight=False,
    )


def _address(email: str) -> str:
    """EMAIL as mailer keeps it (trimmed, case-folded), or a usage error naming EMAIL."""
    from mailer.core.redact import mask
    from mailer.model import normalize_email
    from mailer.sheet.tabs import InvalidAddress, deliverable_address

    try:
        return normalize_email(deliverable_address(email.strip()))
    except InvalidAddress as err:
        raise click.BadParameter(
            f"{mask(email)} is not an email address ({err})", param_hint="EMAIL"
        ) from None


@cli.command()
@click.argument("email")
@now_option
@click.pass_obj
def forget(obj: Context, email: str, now: str | None) -> None:
    """Remove what mailer holds about EMAIL, and keep it from writing to them again.

    Their rows leave the ledger and their messages the outbox; the cells
    mailer wrote on their Signups rows (Status, Position, Notified, Note,
    Session id) are blanked; a keyed hash of the address keeps every job off
    their older answers (an answer given later is a new signup). Their answer
    rows are the organizers' to delete: listed here, and on the Mailer tab
    after each run. Look first with `mailer export EMAIL`.
    Example: mailer forget someone@example.org
    """
    from mailer.core.redact import mask
    from mailer.core.text import plural
    from mailer.jobs.people import forget as forget_person
    from mailer.site import Site

    address = _address(email)
    settings = obj.settings()
    console = obj.console
    moment = parse_now(now, settings.organization.zone)
    done = forget_person(Site.from_settings(settings), address, moment)
    removed = done.removed
    console.print(
        f"Forgot {mask(address)}: {plural(removed.seats, 'seat')},"
        f" {plural(removed.messages, 'message')} and {plural(removed.other, 'other record')}"
        f" left the ledger; {plural(done.outbox_files, 'outbox message')} removed;"
        f" {plural(done.cells_blanked, 'cell')} of mailer's blanked in the sheet.",
        highlight=False,
        soft_wrap=True,
    )
    if done.rows:
        console.print("Their answers stay on the sheet until an organizer deletes these rows:")
        for tab, row in done.rows:
            console.print(f"  {tab} row {row}", markup=False, highlight=False)


@cli.command()
@click.argument("email")
@click.pass_obj
def export(obj: Context, email: str) -> None:
    """Print, as JSON, everything mailer holds about EMAIL.

    Seats, every message (kind, session, subject, when), digests, bounces,
    suppressions, requests, outbox files and the sheet rows with the address.
    Example: mailer export someone@example.org > someone.json
    """
    from mailer.jobs.people import export as export_person
    from mailer.site import Site

    settings = obj.settings()
    held = export_person(Site.from_settings(settings), _address(email))
    click.echo(json.dumps(held, indent=2, ensure_ascii=False))


def main() -> None:
    cli()
