"""`mailer check`: will this site work? Workbook, jobs and templates, each finding with its place.

Templates are checked twice: their source (every file parses; images carry
alt text; text is at least 14 px) and every email the jobs make from the
sample workbook (it renders with undefined variables as errors; its MJML
follows MJML's nesting rules, which mjml-python does not enforce; the page
declares its language; links are https; link text says where it goes; the
HTML stays under Gmail's 102 KB clipping limit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import jinja2

from mailer.core.errors import ConfigError, MailerError
from mailer.ledger import open_ledger
from mailer.mail.mjml_structure import misplaced
from mailer.mail.render import EXTENSIONS
from mailer.model import Event, Problem
from mailer.rules.dates import doubtful_sessions
from mailer.rules.self_service import FORM, way
from mailer.settings import config
from mailer.settings.config import Settings
from mailer.settings.schema import DEFAULT_TABS, REQUIRED_COLUMNS, TABS
from mailer.sheet.backends import Table, Workbook, open_workbook
from mailer.sheet.session_dates import date_problems
from mailer.sheet.tabs import parse_events, parse_resources, parse_signups
from mailer.tools import gallery, translations

ERROR = "error"
WARNING = "warning"
SYNTAX = "template syntax"
GMAIL_CLIPS_AT = 102 * 1024
MIN_FONT_PX = 14
VAGUE_LINK_TEXT = {"click here", "here", "read more", "more", "link", "this link", "click"}
SAFE_LINK = re.compile(r"^(https://|mailto:|tel:|#|%%mailer:\w+%%)", re.IGNORECASE)
IMAGE_TAG = re.compile(r"<(mj-image|img)\b[^>]*>", re.IGNORECASE | re.DOTALL)
FONT_SIZE = re.compile(r'font-size="(\d+(?:\.\d+)?)px"')
SOURCE_WARNINGS = [
    (
        re.compile(r"<mj-style\b[^>]*\binline\s*=", re.IGNORECASE),
        'mjml-python does not inline <mj-style inline="inline">: those styles stay in a '
        "<style> block, which some mail clients drop",
    ),
    (
        re.compile(r"<mj-font\b", re.IGNORECASE),
        "a web font is fetched from its host each time the email is opened, which tells "
        "the host who reads it; prefer the system fonts",
    ),
]


@dataclass(frozen=True)
class Finding:
    """One problem, where it is: `file` is a path, or a place that is not a file ("jobs")."""

    severity: str
    file: str
    message: str
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


@dataclass
class TabReport:
    """One logical tab as found: its name in the workbook and the columns found or missing."""

    logical: str
    name: str
    exists: bool
    found: dict[str, str] = field(default_factory=dict)
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # every column the tab has, as written
    saved_as: str = ""  # how its file is saved (CSV): "Windows-1252, semicolon-separated"


@dataclass
class WorkbookReport:
    describe: str = ""
    tabs_in_workbook: list[str] = field(default_factory=list)
    tabs: list[TabReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def check_workbook(
    settings: Settings, workbook: Workbook | None = None, now: datetime | None = None
) -> WorkbookReport:
    """Connect, list the tabs and, per tab mailer uses, the columns found and missing.

    With `now`, sessions whose dates cannot be right as of then are errors too.
    """
    report = WorkbookReport()
    try:
        workbook = workbook or open_workbook(settings)
        report.describe = workbook.describe()
        # The release form's tab matters only where release links open that form.
        answers = way(settings.server.public_url, settings.self_service.form_url)
        wanted = [t for t in DEFAULT_TABS if t != "releases" or answers == FORM]
        names = {tab: settings.workbook.tab(tab) for tab in wanted}
        tables = workbook.read(list(names.values()))
        titles = getattr(workbook, "tab_titles", None)
        report.tabs_in_workbook = titles() if titles else sorted(tables)
    except (MailerError, ConfigError) as err:
        report.findings.append(Finding(ERROR, "workbook", str(err)))
        return report
    if not tables:
        hint = (
            " (`mailer init` writes the sample workbook)"
            if settings.workbook.backend == "csv"
            else ""
        )
        report.findings.append(Finding(ERROR, "workbook", f"holds none of mailer's tabs{hint}"))
        return report
    for logical, name in names.items():
        table = tables.get(name)
        tab = TabReport(logical, name, table is not None)
        report.tabs.append(tab)
        if table is not None:
            tab.header = [h for h in table.header if h.strip()]
            saved_as = getattr(workbook, "saved_as", None)
            tab.saved_as = saved_as(name) if saved_as else ""
        if table is None:
            if TABS[logical].missing == "fine":
                continue
            severity = ERROR if TABS[logical].missing == "error" else WARNING
            report.findings.append(Finding(severity, f"tab {name!r}", _absent(logical, name)))
            continue
        for field_name, header in settings.workbook.column_map(logical).items():
            if table.column_index(header) is not None:
                tab.found[field_name] = header
            elif field_name in REQUIRED_COLUMNS[logical]:
                tab.missing_required.append(header)
                report.findings.append(
                    Finding(
                        ERROR,
                        f"tab {name!r}",
                        f"no column {header!r} ({field_name}); add it or map it under "
                        f"[workbook.columns.{logical}]",
                    )
                )
            else:
                tab.missing_optional.append(header)
    report.findings.extend(_row_findings(settings, names, tables, now))
    return report


def _row_findings(
    settings: Settings, names: dict[str, str], tables: dict[str, Table], now: datetime | None
) -> list[Finding]:
    """What the jobs would refuse in the rows of the events and resources tabs."""
    problems: list[Problem] = []
    try:
        if names["events"] in tables:
            zone = settings.organization.timezone
            events = tables[names["events"]]
            parsed = parse_events(events, settings.workbook.column_map("events"), zone)
            problems += parsed.problems
            if now is not None and names["signups"] in tables:
                signups = tables[names["signups"]]
                problems += _date_problems(settings, events, parsed.events, signups, now)
        if names["resources"] in tables:
            resources = tables[names["resources"]]
            problems += parse_resources(resources, settings.workbook.column_map("resources"))[1]
    except MailerError:
        return []  # a missing required column, reported above
    return [Finding(ERROR if p.fatal else WARNING, f"tab {p.tab!r}", str(p)) for p in problems]


def _date_problems(
    settings: Settings, sessions: Table, events: list[Event], answers: Table, now: datetime
) -> list[Problem]:
    """Sessions whose dates cannot be right, as the signups job would judge them now."""
    zone = settings.organization.zone
    signups = parse_signups(answers, settings.workbook.column_map("signups"), events, zone)
    known: set[str] = set()
    if not settings.ledger.on_sqlite or settings.ledger.path.exists():
        with open_ledger(settings) as ledger:
            known = set(ledger.stored_events())
    doubts = doubtful_sessions(events, signups.signups, known, now)
    return date_problems(sessions, settings.workbook.column_map("events"), doubts)


def _absent(logical: str, name: str) -> str:
    consequence = {
        "events": "no session can be planned",
        "signups": "no signup can be read",
        "members": "everyone counts as a non-member",
        "resources": "the digest has no resources to send",
        "subscribers": "the digest goes only to signers-up who opted in",
        "series": "no series adds sessions (optional)",
        "releases": "answers to the release form cannot be read",
    }[logical]
    return f"no tab named {name!r}: {consequence} (map it under [workbook.tabs] {logical})"


def check_jobs(settings: Settings) -> tuple[list[config.JobSettings], list[Finding]]:
    """Every job file parses, and the template each one names is there."""
    try:
        jobs = config.load_jobs(settings)
    except ConfigError as err:
        return [], [Finding(ERROR, "jobs", line) for line in str(err).splitlines()]
    return jobs, [_missing_template(job, path) for job, path in _absent_templates(settings, jobs)]


def _absent_templates(
    settings: Settings, jobs: list[config.JobSettings]
) -> list[tuple[config.JobSettings, Path]]:
    """The jobs whose `[options] template` has no .mjml, with the file they would need."""
    folder = settings.root / "templates"
    paths = [(job, folder / f"{name}.mjml") for job in jobs for name in job.options.templates()]
    return [(job, path) for job, path in paths if not path.is_file()]


def line_of(source: str, offset: int) -> int:
    """The 1-based line of `source` that holds `offset`."""
    return source.count("\n", 0, offset) + 1


def _missing_template(job: config.JobSettings, path: Path) -> Finding:
    try:
        source = job.source.read_text(encoding="utf-8")
    except OSError:
        source = ""
    match = re.search(r"^\s*template\s*=", source, re.MULTILINE)
    line = line_of(source, match.start()) if match else None
    return Finding(ERROR, str(job.source), f"[options] template: no template {path}", line)


def check_templates(settings: Settings, now: datetime) -> list[Finding]:
    folder = settings.root / "templates"
    findings = list(_check_sources(folder))
    if any(f.message.startswith(SYNTAX) for f in findings):
        return findings
    made = gallery.build(settings, now)
    try:
        named = {
            f"no template {path}"
            for _, path in _absent_templates(settings, config.load_jobs(settings))
        }
    except ConfigError:
        named = set()
    # check_jobs names the job file for a template a job names that is not there
    rendered = [_from_error(error, folder) for error in made.errors if error not in named]
    for specimen in made.specimens:
        rendered += check_html(specimen.message.html, folder / f"{specimen.template}.mjml")
    findings += dict.fromkeys(rendered)  # emails that share a template share its problems
    findings.extend(_check_structure(folder, made.mjml))
    return findings


def check_translations(settings: Settings) -> tuple[list[str], list[Finding]]:
    """A line per language (complete, or how many messages it lacks) and a warning per gap."""
    default = settings.organization.language
    lines, findings = [], []
    for gap in translations.missing_translations(settings):
        where = str(gap.path)
        if gap.problem and not gap.messages:
            findings.append(Finding(ERROR, where, gap.problem))
            lines.append(f"{gap.language}: {gap.problem}")
            continue
        if not gap.messages:
            lines.append(f"{gap.language}: every message translated")
            continue
        lines.append(
            f"{gap.language}: {len(gap.messages)} of the messages without a translation"
            f" (shown in {default}){'; ' + gap.problem if gap.problem else ''}"
        )
        findings.extend(
            Finding(WARNING, where, f"no {gap.language} translation (shown in {default}): {m!r}")
            for m in gap.messages
        )
    return lines, findings


RENDER_ERROR = re.compile(r"^(?P<file>[^:]*?\.(?:mjml|txt))(?::(?P<line>\d+))?:? (?P<message>.+)$")


def _from_error(error: str, folder: Path) -> Finding:
    """A rendering error ("path:line: message", "path.mjml does not ...") as a finding."""
    match = RENDER_ERROR.match(error)
    if not match:
        return Finding(ERROR, str(folder), error)
    line = int(match["line"]) if match["line"] else None
    return Finding(ERROR, match["file"], match["message"], line)


def _check_structure(folder: Path, rendered: dict[str, set[str]]) -> Iterable[Finding]:
    """MJML's nesting rules, which mjml-python does not enforce, on what each template made."""
    reported = set()
    for name, sources in sorted(rendered.items()):
        for source in sources:
            for problem in misplaced(source):
                path, line = _locate(folder / f"{name}.mjml", rf"<{re.escape(problem.tag)}\b")
                finding = Finding(ERROR, str(path), problem.message, line)
                if line is None:
                    finding = Finding(
                        ERROR, f"{path} (rendered line {problem.line})", problem.message
                    )
                if finding not in reported:
                    reported.add(finding)
                    yield finding


def _locate(template: Path, pattern: str) -> tuple[Path, int | None]:
    """Where `pattern` first matches: in the template, else the pieces beside it it may include.

    Without a match (the text came from the workbook, say) the template itself, with no line.
    """
    folder = template.parent
    for path in [template, *sorted(p for p in folder.glob("*.mjml") if p != template)]:
        try:
            source = path.read_text(encoding="utf-8")
        except OSError:
            continue
        match = re.search(pattern, source, re.IGNORECASE)
        if match:
            return path, line_of(source, match.start())
    return template, None


def _check_sources(folder: Path) -> Iterable[Finding]:
    if not folder.is_dir():
        yield Finding(ERROR, str(folder), "no templates folder")
        return
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), extensions=EXTENSIONS)
    sizes_set = False
    for path in sorted([*folder.glob("*.mjml"), *folder.glob("*.txt")]):
        source = path.read_text(encoding="utf-8")
        try:
            env.parse(source, path.name, str(path))
        except jinja2.TemplateSyntaxError as err:
            yield Finding(ERROR, str(path), f"{SYNTAX}: {err.message}", err.lineno)
        if path.suffix != ".mjml":
            continue
        for pattern, message in SOURCE_WARNINGS:
            for match in pattern.finditer(source):
                yield Finding(WARNING, str(path), message, line_of(source, match.start()))
        for match in IMAGE_TAG.finditer(source):
            if not re.search(r"\balt\s*=", match.group(0)):
                yield Finding(
                    ERROR,
                    str(path),
                    f'<{match.group(1)}> has no alt text (alt="" for a decorative image)',
                    line_of(source, match.start()),
                )
        for match in FONT_SIZE.finditer(source):
            tag_start = source.rfind("<", 0, match.start())
            tag = source[tag_start : match.start()]
            if not tag.startswith(("<mj-text", "<mj-button", "<mj-all", "<mj-table")):
                continue
            if tag.startswith(("<mj-text", "<mj-all")) and "<mj-attributes" in source[:tag_start]:
                sizes_set = sizes_set or float(match.group(1)) >= MIN_FONT_PX
            if float(match.group(1)) < MIN_FONT_PX:
                yield Finding(
                    ERROR,
                    str(path),
                    f"text at {match.group(1)} px is hard to read; use at least {MIN_FONT_PX} px",
                    line_of(source, match.start()),
                )
    if not sizes_set:
        yield Finding(
            ERROR,
            str(folder / "layout.mjml"),
            f'MJML sets text at 13 px unless told: give <mj-text font-size="16px" /> '
            f"(at least {MIN_FONT_PX} px) in <mj-attributes>",
        )


class _Page(HTMLParser):
    """What the checks need from an email's HTML: lang, images, links and their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.images_without_alt = 0
        self.links: list[tuple[str, str]] = []
        self._link: list[str] | None = None
        self._href = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang") or ""
        elif tag == "img" and values.get("alt") is None:
            self.images_without_alt += 1
        elif tag == "a":
            self._link, self._href = [], values.get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            self.links.append((self._href, " ".join("".join(self._link).split())))
            self._link = None


def check_html(markup: str, template: Path) -> list[Finding]:
    """Accessibility, links and size of one rendered email, placed in its MJML where found."""
    page = _Page()
    page.feed(markup)
    findings = []

    def found(severity: str, message: str, pattern: str | None = None) -> None:
        path, line = _locate(template, pattern) if pattern else (template, None)
        findings.append(Finding(severity, str(path), message, line))

    if page.lang.strip().casefold() in ("", "und"):  # mjml-python writes "und" when unset
        found(ERROR, 'no language: set <mjml lang="en"> in the layout', r"<mjml\b")
    if page.images_without_alt:
        found(
            ERROR,
            f"{page.images_without_alt} image(s) without alt text",
            r"<(?:img|mj-image)\b(?![^>]*\balt\s*=)",
        )
    for href, text in page.links:
        if not SAFE_LINK.match(href):
            found(ERROR, f"link {href!r} is not https", rf"""href\s*=\s*["']{re.escape(href)}""")
        if text.casefold().strip(".…!") in VAGUE_LINK_TEXT:
            words = r"\s+".join(re.escape(word) for word in text.split())
            found(ERROR, f"link text {text!r} does not say where it goes", rf">\s*{words}\s*<")
    size = len(markup.encode("utf-8"))
    if size > GMAIL_CLIPS_AT:
        found(WARNING, f"HTML is {size / 1024:.0f} KB; Gmail clips it over 102 KB")
    return findings


__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "WorkbookReport",
    "check_html",
    "check_jobs",
    "check_templates",
    "check_workbook",
]


@dataclass
class FormCheck:
    """The signup form's session question as it is, and what the next run would make it."""

    question: str = ""
    options: tuple[str, ...] = ()
    accepting: bool | None = None
    wanted: tuple[str, ...] = ()
    wanted_accepting: bool = True
    findings: list[Finding] = field(default_factory=list)

    @property
    def in_step(self) -> bool:
        closing_only = not self.wanted and self.accepting in (False, None)
        return (self.options == self.wanted or closing_only) and (
            self.accepting in (None, self.wanted_accepting)
        )


def check_form(settings: Settings, now: datetime) -> FormCheck:
    """Read the form (one forms.get) and compare it with the seats the ledger last decided."""
    from mailer.ledger import open_ledger
    from mailer.rules.form_choices import form_choices
    from mailer.sheet.google_form import FormError, open_forms

    report = FormCheck(question=settings.form.question)
    try:
        state = open_forms(settings).read(settings.form.question)
        tables = open_workbook(settings).read([settings.workbook.tab("events")])
        events_table = tables.get(settings.workbook.tab("events"))
        events = (
            parse_events(
                events_table,
                settings.workbook.column_map("events"),
                settings.organization.timezone,
            ).events
            if events_table
            else []
        )
    except (FormError, MailerError, ConfigError) as err:
        report.findings.append(Finding(ERROR, "form", str(err)))
        return report
    confirmed: dict[str, int] = {}
    if not settings.ledger.on_sqlite or settings.ledger.path.exists():
        ledger = open_ledger(settings)
        try:
            aliases = ledger.memory().aliases
            for seat in ledger.seats():
                if seat.status == "confirmed":
                    confirmed[seat.event_id] = confirmed.get(seat.event_id, 0) + 1
        finally:
            ledger.close()
        confirmed.update(
            {sheet_id: confirmed.get(ledger_id, 0) for sheet_id, ledger_id in aliases.items()}
        )
    choices = form_choices(events, confirmed, now, settings.form.waitlist)
    report.options = state.question.options
    report.accepting = state.accepting
    report.wanted = choices.options
    report.wanted_accepting = choices.accepting
    return report
