"""The `mailer` command: set up a site, run its jobs, and show what they decided."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from mailer import checks, config
from mailer.daemon import Daemon
from mailer.errors import ConfigError, MailerError
from mailer.jobs import digest, reminders, signups
from mailer.ledger import Ledger, locked
from mailer.mime import mask
from mailer.preview import build as build_preview
from mailer.progress import SendProgress
from mailer.redact import RedactingFormatter
from mailer.rows import normalize_email
from mailer.runner import Report, delivered_text, run_job, summary
from mailer.sample import write_sample
from mailer.schedules import RunLog, next_run
from mailer.site import Site
from mailer.tokens import load_secret

console = Console()
PIPE_WIDTH = 120  # logs and cron mail are read on wide screens; rich would assume 80
log = logging.getLogger("mailer")


class Context:
    def __init__(self, config_path: Path):
        self.config_path = config_path

    def settings(self) -> config.Settings:
        return config.load(self.config_path)


def parse_now(value: str | None) -> datetime:
    """The moment a command runs as of: --now, or the clock (read here, at the edge, only)."""
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date-time such as 2026-12-01T09:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class UserError(click.ClickException):
    """A one-line error for people: `error: <what, where, what to do>`."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


class MailerGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            raise UserError(str(err), 2) from err
        except MailerError as err:
            raise UserError(str(err), 1) from err


now_option = click.option(
    "--now",
    metavar="ISO",
    help="Run as of this moment (e.g. 2026-12-01T09:00-06:00); naive times are UTC.",
)


@click.group(cls=MailerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default="mailer.toml",
    envvar="MAILER_CONFIG",
    show_default=True,
    help="The site's settings file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, verbose: bool) -> None:
    """Signups, waitlists and emails for small online sessions, run from a spreadsheet.

    \b
    Example:
      mailer init          # a sample workbook in lists/
      mailer run           # confirm, waitlist, email, write statuses back
      mailer status        # who holds a seat, who waits
      mailer preview       # every email, rendered, in preview/index.html
      mailer check         # settings, sheet columns and templates, for CI
      mailer daemon        # the jobs on their schedules, until stopped
    """
    handler = RichHandler(console=Console(stderr=True), show_path=False)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    ctx.obj = Context(config_path)


@cli.command()
@now_option
@click.pass_obj
def init(obj: Context, now: str | None) -> None:
    """Write a sample workbook into the workbook folder, unless it already holds one.

    The sample session is the next Wednesday at least three days ahead, so it
    never goes stale. Example: mailer init
    """
    settings = obj.settings()
    if settings.workbook.backend != "csv":
        console.print("The workbook is not a CSV folder; nothing to write.")
        return
    written = write_sample(settings, parse_now(now))
    if written:
        console.print(f"Wrote a sample workbook: {', '.join(p.name for p in written)}")
        console.print(f"  in {settings.workbook.path}")
    else:
        console.print(f"{settings.workbook.path} already holds a workbook; left it alone.")


@cli.command()
@click.argument("job", required=False)
@now_option
@click.option("--no-send", is_flag=True, help="Decide and write back, but send nothing yet.")
@click.pass_obj
def run(obj: Context, job: str | None, now: str | None, no_send: bool) -> None:
    """Run the jobs in jobs/ once: every enabled one, signups first, or only JOB.

    The signups job reads the workbook, holds each session to capacity,
    emails what is due and writes each person's Status back; reminders
    remind confirmed people before their session; the digest goes out once
    per slot. A job that fails is reported and the others still run.

    Example: mailer run reminders --now 2026-12-01T11:00-06:00
    """
    settings = obj.settings()
    jobs = config.load_jobs(settings)
    if job:
        chosen = [j for j in jobs if job in (j.name, j.kind)]
        if not chosen:
            names = ", ".join(j.name for j in jobs)
            raise click.BadParameter(f"no job named {job!r} (jobs: {names})", param_hint="JOB")
    else:
        chosen = [j for j in jobs if j.enabled]
    moment = parse_now(now)
    site = Site.from_settings(settings)
    runs = RunLog(settings.ledger.path.parent)
    recording = not no_send and now is None
    failed = []
    with locked(site.ledger_path, settings.ledger.lock_timeout):
        ledger = Ledger(site.ledger_path)
        try:
            for each in chosen:
                try:
                    with SendProgress(console) as progress:
                        report = run_job(site, ledger, each, moment, not no_send, progress)
                except MailerError as err:
                    # One job's trouble (the sheet unreachable, say) leaves the others to run.
                    failed.append(f"{each.name}: {err}")
                    if recording:
                        runs.record(each, moment, False, str(err))
                    continue
                if recording:
                    runs.record(each, moment, True, summary(report))
                _print_report(each, report, settings)
        finally:
            ledger.close()
    if failed:
        raise UserError("; ".join(failed), 1)


def _print_report(job: config.JobSettings, report: Report, settings: config.Settings) -> None:
    if isinstance(report, signups.SignupsReport):
        _print_signups(report, settings)
    elif isinstance(report, reminders.RemindersReport):
        _print_reminders(job, report)
    else:
        _print_digest(job, report)


def _print_digest(job: config.JobSettings, report: digest.DigestReport) -> None:
    sent = report.delivered
    if report.skipped:
        line = f"Digest ({job.name}), slot {report.slot}: {report.skipped}"
    else:
        line = (
            f"Digest ({job.name}), slot {report.slot}: {report.resources} new resources"
            f" to {report.recipients} people"
        )
    line += f"; {sent.get('sent', 0)} sent" + (
        f", {sent['failed']} failed" if sent.get("failed") else ""
    )
    if report.unsubscribes_written:
        line += f"; {report.unsubscribes_written} unsubscribes written to the sheet"
    if report.adopted:
        line += (
            f"; rebuilt from the sheet: {report.adopted} earlier digests the Resources tab"
            " shows as sent"
        )
    console.print(line + ".", soft_wrap=True, highlight=False)
    for problem in report.problems:
        console.print(f"  {problem}", markup=False, soft_wrap=True)


def _print_reminders(job: config.JobSettings, report: reminders.RemindersReport) -> None:
    sent = report.delivered
    per_event = ", ".join(f"{n} for {event}" for event, n in sorted(report.by_event.items()))
    console.print(
        f"Reminders ({job.name}): {report.decided} new"
        + (f" ({per_event})" if per_event else "")
        + f", {delivered_text(sent)}.",
        soft_wrap=True,
        highlight=False,
    )


def _print_signups(report: signups.SignupsReport, settings: config.Settings) -> None:
    zone = settings.organization.zone
    table = Table(title="Signups", title_justify="left")
    for column in ("Session", "Starts", "Confirmed", "Waitlisted", "New emails"):
        table.add_column(column, no_wrap=column != "New emails")
    for event_summary in report.events:
        event = event_summary.event
        new = (
            ", ".join(f"{n} {kind}" for kind, n in sorted(event_summary.new_messages.items()))
            or "-"
        )
        table.add_row(
            event.id + (" (cancelled)" if event.cancelled else ""),
            f"{event.starts_at.astimezone(zone):%a %b %d %H:%M}",
            f"{event_summary.confirmed}/{event.capacity}",
            str(event_summary.waitlisted),
            new,
        )
    if report.events:
        console.print(table)
    else:
        console.print("No upcoming sessions in the workbook.")
    sent = report.delivered
    console.print(
        f"Emails: {report.decided} new, {delivered_text(sent)}."
        f" Sheet: {report.cells_written} cells written."
    )
    if report.requests:
        people = "person" if report.requests == 1 else "people"
        console.print(f"{report.requests} {people} gave up their place from the link in an email.")
    if report.adopted:
        console.print(
            f"Rebuilt from the sheet: the ledger had no record of {report.adopted} emails that"
            " the Notified column shows as sent; they are taken as sent, never sent again.",
            soft_wrap=True,
        )
    rejected = [p for p in report.problems if p.fatal]
    notes = [p for p in report.problems if not p.fatal]
    if rejected:
        rows = "row" if len(rejected) == 1 else "rows"
        console.print(f"[bold]{len(rejected)} {rows} rejected[/bold] (fix in the sheet):")
        for problem in rejected:
            console.print(f"  {problem}", markup=False, soft_wrap=True)
    for problem in notes:
        console.print(f"  note: {problem}", markup=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"  warning: {warning}", markup=False, soft_wrap=True)
    for skipped in report.skipped_writes:
        console.print(
            f"  not written: row {skipped.row} {skipped.column}: {skipped.reason}"
            " (the next run tries again)",
            markup=False,
            soft_wrap=True,
        )


@cli.command()
@now_option
@click.option("--all", "show_all", is_flag=True, help="Include sessions that have ended.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--addresses", is_flag=True, help="Show full addresses instead of masked ones.")
@click.pass_obj
def status(obj: Context, now: str | None, show_all: bool, as_json: bool, addresses: bool) -> None:
    """Show each session's roster as the last run decided it, and messages not yet sent.

    Lists sessions that have not ended as of --now (default: now). Reads the
    ledger only, no spreadsheet calls. Example: mailer status --json
    """
    settings = obj.settings()
    moment = parse_now(now)
    ledger = Ledger(settings.ledger.path)
    try:
        events = [
            stored.event
            for stored in ledger.stored_events().values()
            if show_all or stored.event.ends_at > moment
        ]
        seats = ledger.seats()
        unsent = ledger.messages(("pending", "retry", "failed"))
    finally:
        ledger.close()

    def show(email: str) -> str:
        return email if addresses or as_json else mask(email)

    roster: dict[str, list] = {e.id: [] for e in events}
    for seat in seats:
        roster.setdefault(seat.event_id, []).append(seat)
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
                        {"email": s.email, "status": s.status, "position": s.position, "row": s.row}
                        for s in roster[event.id]
                    ],
                }
                for event in events
            ],
            "unsent": [
                {"key": m.key, "state": m.state, "reason": m.reason, "attempts": m.attempts}
                for m in unsent
            ],
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not events:
        console.print("Nothing to show: no upcoming session decided yet (`mailer run`, or --all).")
    for event in events:
        people = roster[event.id]
        confirmed = [s for s in people if s.status == "confirmed"]
        waiting = sorted((s for s in people if s.status == "waitlisted"), key=lambda s: s.position)
        starts = event.starts_at
        cancelled = " (cancelled)" if event.cancelled else ""
        console.print(
            f"[bold]{event.title}[/bold] ({event.id}){cancelled}, {starts:%a %b %d %H:%M %Z}: "
            f"{len(confirmed)}/{event.capacity} confirmed, {len(waiting)} waitlisted",
            soft_wrap=True,
            highlight=False,
        )
        table = Table()
        for column in ("Status", "Place", "Person", "Sheet row"):
            table.add_column(column)
        for seat in confirmed + waiting + [s for s in people if s.status == "cancelled"]:
            table.add_row(seat.status, str(seat.position or ""), show(seat.email), str(seat.row))
        console.print(table)
    for message in unsent:
        console.print(
            f"{message.state}: {message.kind}"
            + (f" for {message.event_id}" if message.event_id else "")
            + f" to {show(message.email)}"
            + (f" ({message.reason})" if message.reason else ""),
            markup=False,
        )


@cli.command()
@click.pass_obj
def daemon(obj: Context) -> None:
    """Run every enabled job on its schedule until stopped (SIGTERM or Ctrl-C).

    On start it runs each job that is due, so a restart catches up; then one
    job at a time, a log line per run. A failing job is logged and the daemon
    goes on; a signal lets the running job finish first. Example: mailer daemon
    """
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


@cli.command("jobs")
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def list_jobs(obj: Context, now: str | None, as_json: bool) -> None:
    """List the jobs in jobs/, their schedules, last run and next run. Example: mailer jobs"""
    settings = obj.settings()
    moment = parse_now(now)
    runs = RunLog(settings.ledger.path.parent).read()
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
    console.print(table)


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
    settings = obj.settings()
    folder = out or settings.root / "preview"
    result = build_preview(settings, parse_now(now), folder)
    for entry in result.entries:
        shots = len(entry.shots)
        warn = f", {len(entry.warnings)} warnings" if entry.warnings else ""
        subject = entry.specimen.message.subject
        console.print(
            f"  {entry.specimen.label}: {subject} ({shots} screenshots{warn})",
            highlight=False,
            markup=False,
        )
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    console.print(f"Screenshots: {result.screenshots}.", highlight=False, markup=False)
    console.print(f"Wrote {result.index}", highlight=False)
    if result.errors:
        raise UserError(f"{len(result.errors)} templates failed to render", 1)


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
    settings = obj.settings()
    moment = parse_now(now)
    console.print(f"[bold]Settings[/bold]: {settings.source} is valid.", highlight=False)
    jobs, findings = checks.check_jobs(settings)
    for job in jobs:
        schedule = f"every {job.every}" if job.every else f"at {job.at} {job.timezone}"
        state = "" if job.enabled else " (disabled)"
        console.print(f"  job {job.name}: {job.kind}, {schedule}{state}", highlight=False)
    workbook = checks.WorkbookReport() if no_workbook else checks.check_workbook(settings)
    if no_workbook:
        console.print("[bold]Workbook[/bold]: not checked (--no-workbook).", highlight=False)
    findings += workbook.findings
    if workbook.describe:
        tabs = ", ".join(repr(t) for t in workbook.tabs_in_workbook) or "none"
        console.print(f"[bold]Workbook[/bold]: {workbook.describe}; tabs: {tabs}", highlight=False)
    for tab in workbook.tabs:
        if not tab.exists:
            continue
        console.print(
            f"  {tab.logical} = {tab.name!r}: found {len(tab.found)} columns", highlight=False
        )
        if tab.missing_required:
            console.print(f"    missing: {', '.join(tab.missing_required)}", highlight=False)
        if tab.missing_optional:
            console.print(
                f"    not there (optional, or added on the first write): "
                f"{', '.join(tab.missing_optional)}",
                highlight=False,
            )
    findings += checks.check_templates(settings, moment)
    errors = [f for f in findings if f.severity == checks.ERROR]
    for finding in findings:
        click.echo(str(finding))
    warnings = len(findings) - len(errors)
    if errors:
        raise UserError(f"{len(errors)} errors, {warnings} warnings", 1)
    console.print(f"[bold]Templates[/bold]: every email renders. {warnings} warnings.")


@cli.command()
@click.pass_obj
def retry(obj: Context) -> None:
    """Queue failed messages again; the next `mailer run` sends them. Example: mailer retry"""
    settings = obj.settings()
    with locked(settings.ledger.path, settings.ledger.lock_timeout):
        ledger = Ledger(settings.ledger.path)
        try:
            count = ledger.retry_failed()
        finally:
            ledger.close()
    console.print(f"{count} failed messages queued again.")


def _claim_window(settings: config.Settings) -> timedelta | None:
    """How long an offered seat may be claimed, as the signups job has it."""
    for job in config.load_jobs(settings):
        if isinstance(job.options, config.SignupsOptions) and job.options.claim_window:
            return job.options.claim_window
    return None


@cli.command()
@click.option("--host", help="Address to listen on (default: [server] host).")
@click.option("--port", type=int, help="Port to listen on (default: [server] port).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the digest's unsubscribe pages and one-click unsubscribe (RFC 8058).

    It also serves the pages behind the emails' release and claim links
    (/seat/<token>). With [server] sendgrid_event_key set it also takes SendGrid's signed Event
    Webhook at /sendgrid/events (bounces, spam reports). Put it behind your
    HTTPS proxy at [server] public_url. Example: mailer serve --port 8080
    """
    import waitress

    from mailer.web import create_app

    settings = obj.settings()
    secret = load_secret(settings.ledger.path.parent, settings.transport.backend == "outbox")
    app = create_app(
        settings.ledger.path,
        secret,
        settings.organization.name,
        sendgrid_key=settings.server.sendgrid_event_key,
        claim_window=_claim_window(settings),
    )
    host = host or settings.server.host
    port = port or settings.server.port
    console.print(f"Serving unsubscribe pages on http://{host}:{port}/ (Ctrl-C stops)")
    waitress.serve(app, host=host, port=port, ident="mailer")


@cli.command()
@click.argument("email")
@now_option
@click.pass_obj
def unsubscribe(obj: Context, email: str, now: str | None) -> None:
    """Stop the digest for EMAIL, as its unsubscribe link would.

    The next digest run writes unsubscribed_on into the Subscribers tab.
    Example: mailer unsubscribe someone@example.org
    """
    settings = obj.settings()
    ledger = Ledger(settings.ledger.path)
    try:
        ledger.suppress(normalize_email(email), "unsubscribe", parse_now(now))
    finally:
        ledger.close()
    console.print(f"{mask(email)} will get no more digests.", highlight=False)


@cli.command()
@click.argument("email")
@click.pass_obj
def resubscribe(obj: Context, email: str) -> None:
    """Take EMAIL off the suppression list: an unsubscribe, a spam report or a bounce.

    Clear its unsubscribed_on cell in the Subscribers tab too, or the next
    digest still skips it. Example: mailer resubscribe someone@example.org
    """
    settings = obj.settings()
    ledger = Ledger(settings.ledger.path)
    try:
        lifted = ledger.unsuppress(normalize_email(email))
    finally:
        ledger.close()
    if not lifted:
        console.print(f"{mask(email)} was not on the suppression list.", highlight=False)
        return
    console.print(
        f"{mask(email)} is off the suppression list (was: {', '.join(lifted)}). "
        "If the Subscribers tab has an unsubscribed_on date for it, clear that cell.",
        highlight=False,
    )


def main() -> None:
    cli()
