"""What needs an organizer reaches them when no one watches the terminal.

After each run: the Mailer tab is written (mailer.mailer_tab); organizers
(`[organization] organizers`) get a note, at most once a day and only when
something is new (a problem, a pause, messages failed or unknown), with the
open problems, what is waiting and the coming sessions; a job that has failed
on every run for `[monitor] failing_after` is mailed once, and once more when
it works again. Organizers own the sheet, so their email names people in
full; logs and `state/organizers.json` never do (values kept there are masked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mailer.core.durations import seconds
from mailer.core.errors import MailerError
from mailer.core.files import atomic_write
from mailer.core.redact import mask, redact
from mailer.rules.statuses import CONFIRMED, OFFERED, WAITLISTED
from mailer.sheet.mailer_tab import LastRun, OpenProblem, tab_rows

if TYPE_CHECKING:
    from mailer.jobs.base import Report
    from mailer.ledger import Ledger
    from mailer.model import Problem
    from mailer.site import Site

log = logging.getLogger("mailer.organizers")
STATE_FILE = "organizers.json"
TEMPLATE = "organizers"
LISTED_MESSAGES = 20
ANY_ADDRESS = re.compile(r"[^\s'\"<>()]+@[^\s'\"<>()]+")


class Ran(NamedTuple):
    """One job's run as the runner saw it."""

    job: str
    error: str = ""  # what stopped it
    report: Report | None = None


@dataclass(eq=False, repr=False)
class Health:
    since: str = ""  # when its unbroken run of failures began (ISO), "" when it works
    reason: str = ""  # the last failure, masked
    alerted: bool = False  # organizers were told it is failing


@dataclass(eq=False, repr=False)
class State:
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # job -> masked
    mailed: list[str] = field(default_factory=list)  # keys of what the last notes told
    last_note: str = ""  # the local day of the last note
    health: dict[str, Health] = field(default_factory=dict)
    tab_height: int = 0  # rows the Mailer tab had when last written

    @classmethod
    def load(cls, folder: Path) -> State:
        try:
            data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            data["health"] = {job: Health(**h) for job, h in data.get("health", {}).items()}
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, folder: Path) -> None:
        data = asdict(self)
        atomic_write(folder / STATE_FILE, json.dumps(data, indent=2).encode(), durable=False)


def failing_reason(ran: Ran) -> str:
    """Why this run counts as a failure: it stopped, or the transport refused every message."""
    if ran.error:
        return ran.error
    delivered: Counter[str] = ran.report.delivered if ran.report is not None else Counter()
    refused = delivered.get("failed", 0) + delivered.get("retry", 0)
    if refused and not delivered.get("sent", 0):
        return f"the transport refused every message it was given ({refused})"
    return ""


def _proves_nothing(ran: Ran) -> bool:
    """A run that went through with nothing to send says nothing of a refusing transport."""
    return ran.report is not None and not any(ran.report.delivered.values())


def masked(text: str) -> str:
    """Text as state files and logs may hold it: secrets blanked, anything like an address masked.

    A malformed address ("chris@@example.org") escapes the log redactor's pattern,
    so every word with an @ in it is masked too.
    """
    return ANY_ADDRESS.sub(lambda m: mask(m.group(0)), redact(text))


def problem_key(p: Problem) -> str:
    text = "\x1f".join([p.tab, str(p.row), p.column, p.value, p.reason])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def after_run(
    site: Site, ledger: Ledger, ran: Sequence[Ran], now: datetime, send: bool = True
) -> None:
    """Write the Mailer tab and tell organizers what is new (unless `send` is off)."""
    settings = site.settings
    folder = site.state
    state = State.load(folder)
    full: dict[str, tuple[str, str]] = {}  # key -> (value, reason) as this run saw them
    for each in ran:
        _remember(state, each, now, full)
    problems = _open_problems(state, full)
    waiting, waiting_keys, messages = _waiting(site, ledger, now)
    runs = [
        LastRun(job, datetime.fromisoformat(r["started"]), r["ok"], r["summary"])
        for job, r in sorted(state.runs.items())
    ]
    zone = settings.organization.zone
    tab = settings.workbook.mailer_tab
    if tab:
        rows = tab_rows(runs, problems, waiting, zone)
        try:
            site.workbook.replace(tab, rows, state.tab_height)
            state.tab_height = len(rows)
        except MailerError as err:
            log.warning("the %s tab was not written: %s", tab, redact(str(err)))
    if settings.organization.organizers and send:
        _note(site, ledger, state, problems, waiting, waiting_keys, messages, now)
        _alerts(site, state, ran, now)
    state.save(folder)


def _remember(state: State, ran: Ran, now: datetime, full: dict[str, tuple[str, str]]) -> None:
    reason = failing_reason(ran)
    summary = f"stopped: {ran.error}" if ran.error else ran.report.summary() if ran.report else ""
    state.runs[ran.job] = {
        "started": now.astimezone(UTC).isoformat(),
        "ok": not reason,
        "summary": masked(summary),
    }
    health = state.health.setdefault(ran.job, Health())
    if reason:
        health.since = health.since or now.astimezone(UTC).isoformat()
        health.reason = masked(reason)
    elif not _proves_nothing(ran):
        health.since, health.reason = "", ""
    if ran.report is None:
        return  # a run that stopped saw no rows: what was open stays open
    before = {p["key"]: p["since"] for p in state.problems.get(ran.job, [])}
    kept = []
    for p in getattr(ran.report, "problems", []):
        if not p.fatal:
            continue
        key = problem_key(p)
        full[key] = (p.value, p.reason)
        kept.append(
            {
                "key": key,
                "tab": p.tab,
                "row": p.row,
                "column": p.column,
                "value": masked(p.value),
                "reason": masked(p.reason),
                "since": before.get(key, now.astimezone(UTC).isoformat()),
            }
        )
    state.problems[ran.job] = kept


def _open_problems(state: State, full: dict[str, tuple[str, str]]) -> list[OpenProblem]:
    seen: dict[str, OpenProblem] = {}
    for kept in state.problems.values():
        for p in kept:
            value, reason = full.get(p["key"], (p["value"], p["reason"]))
            since = datetime.fromisoformat(p["since"])
            seen.setdefault(
                p["key"],
                OpenProblem(p["key"], p["tab"], p["row"], p["column"], value, reason, since),
            )
    return sorted(seen.values(), key=lambda p: (p.tab, p.row, p.column))


def _waiting(site: Site, ledger: Ledger, now: datetime) -> tuple[list[str], list[str], list[str]]:
    """What waits, for the tab (no addresses); its keys; and each message, for organizers."""
    lines, keys = [], []
    zone = site.settings.organization.zone
    paused = ledger.paused(site.settings.transport.backend)
    if paused and paused[0] > now:
        until, reason = paused
        lines.append(f"Sending paused until {until.astimezone(zone):%a %b %d %H:%M %Z} ({reason})")
        keys.append(f"paused:{until.isoformat()}")
    unsent = ledger.messages(("failed", "unknown", "sending", "pending", "retry"))
    by_state = Counter("unknown" if m.state == "sending" else m.state for m in unsent)
    said = {
        "failed": "failed for good (see the Note column; `mailer retry` sends them again)",
        "unknown": "unknown: handed to the provider with no answer back (`mailer status`)",
        "retry": "to be tried again on the next run",
        "pending": "waiting to go (limits or a pause)",
    }
    for state_name, text in said.items():
        if by_state.get(state_name):
            lines.append(f"{by_state[state_name]} messages {text}")
            if state_name in ("failed", "unknown"):
                keys.append(f"{state_name}:{by_state[state_name]}")
    messages = [
        f"{m.state}: {m.kind}{f' for {m.event_id}' if m.event_id else ''} to {m.email}"
        + (f" ({m.reason})" if m.reason else "")
        for m in unsent
        if m.state in ("failed", "unknown", "sending")
    ][:LISTED_MESSAGES]
    return [redact(line) for line in lines], keys, messages


def _note(
    site: Site,
    ledger: Ledger,
    state: State,
    problems: list[OpenProblem],
    waiting: list[str],
    waiting_keys: list[str],
    messages: list[str],
    now: datetime,
) -> None:
    """The daily note: only when something is new, at most once a local day."""
    current = [p.key for p in problems] + waiting_keys
    state.mailed = [k for k in state.mailed if k in current]  # a fixed problem may come back
    if any(h.since for h in state.health.values()):
        # A failing job is its own email (after `failing_after`): what it leaves failed or
        # waiting is told by it, not by a note of its own.
        state.mailed += [k for k in waiting_keys if k not in state.mailed]
    new = [k for k in current if k not in state.mailed]
    today = f"{now.astimezone(site.settings.organization.zone):%Y-%m-%d}"
    if not new or state.last_note == today:
        return
    context = {
        "kind": "note",
        "problems": [p._asdict() for p in problems],
        "new": new,
        "waiting": waiting,
        "messages": messages,
        "sessions": _sessions(site, ledger, now),
        "job": "",
        "reason": "",
        "since": "",
    }
    if _send(site, context, now):
        state.mailed = current
        state.last_note = today


def _alerts(site: Site, state: State, ran: Sequence[Ran], now: datetime) -> None:
    """A job failing for `failing_after` on every run is mailed once; its recovery once more."""
    after = timedelta(seconds=seconds(site.settings.monitor.failing_after))
    zone = site.settings.organization.zone
    for each in ran:
        health = state.health[each.job]
        if health.since and not health.alerted:
            since = datetime.fromisoformat(health.since)
            if now - since >= after:
                shown = f"{since.astimezone(zone):%a %b %d %H:%M %Z}"
                reason = failing_reason(each)
                context = _alert_context("failing", each.job, reason, shown)
                health.alerted = _send(site, context, now)
        elif not health.since and health.alerted:
            context = _alert_context("recovered", each.job, "", "")
            health.alerted = not _send(site, context, now)


def _alert_context(kind: str, job: str, reason: str, since: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "job": job,
        "reason": reason,
        "since": since,
        "problems": [],
        "new": [],
        "waiting": [],
        "messages": [],
        "sessions": [],
    }


def _sessions(site: Site, ledger: Ledger, now: datetime) -> list[dict[str, Any]]:
    """The coming sessions with their seats, waitlist and open offers (claim windows)."""
    zone = site.settings.organization.zone
    seats: dict[str, Counter[str]] = {}
    for seat in ledger.seats():
        seats.setdefault(seat.event_id, Counter())[seat.status] += 1
    coming = []
    for stored in ledger.stored_events().values():
        event = stored.event
        if event.ends_at <= now or event.cancelled:
            continue
        counts = seats.get(event.id, Counter())
        coming.append(
            {
                "id": event.shown_id,
                "title": event.title,
                "when": f"{event.starts_at.astimezone(zone):%a %b %d %H:%M %Z}",
                "confirmed": counts[CONFIRMED],
                "capacity": event.capacity,
                "waitlisted": counts[WAITLISTED],
                "offered": counts[OFFERED],
            }
        )
    return sorted(coming, key=lambda s: str(s["when"]))


def _send(site: Site, context: dict[str, Any], now: datetime) -> bool:
    """Render the organizers' template and send it to each organizer; says whether all went."""
    from mailer.mail.message import OutgoingMessage  # most runs tell organizers nothing

    settings = site.settings
    org = settings.organization
    try:
        prepared = site.renderer.prepare(TEMPLATE, {**context, "org": org})
    except MailerError as err:
        log.error("the organizers' note did not render: %s", redact(str(err)))
        return False
    stamp = f"{now.astimezone(UTC):%Y%m%dT%H%M%S}"
    messages = [
        OutgoingMessage(
            key=f"organizers:{context['kind']}:{stamp}:{i}",
            kind="organizers",
            event_id="",
            to_email=address,
            to_name="",
            sender_email=org.sender,
            sender_name=org.sender_name or org.name,
            reply_to=org.reply_to,
            subject=prepared.subject,
            text=prepared.text,
            html=prepared.html,
            created_at=now.astimezone(UTC),
        )
        for i, address in enumerate(org.organizers)
    ]
    try:
        with site.transport as transport:
            results = list(transport.send(messages))
    except MailerError as err:
        log.warning("the organizers' %s email was not sent: %s", context["kind"], redact(str(err)))
        return False
    sent = sum(1 for r in results if r.state == "sent")
    log.info("organizers' %s email sent to %d of %d", context["kind"], sent, len(messages))
    return sent == len(messages) and sent > 0
