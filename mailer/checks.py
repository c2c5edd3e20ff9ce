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

from mailer import config, gallery
from mailer.config import DEFAULT_TABS, Settings
from mailer.errors import ConfigError, MailerError
from mailer.mjml_structure import misplaced
from mailer.rows import REQUIRED_COLUMNS
from mailer.workbook import Workbook, open_workbook

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
    severity: str
    where: str
    message: str

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


@dataclass
class WorkbookReport:
    describe: str = ""
    tabs_in_workbook: list[str] = field(default_factory=list)
    tabs: list[TabReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def check_workbook(settings: Settings, workbook: Workbook | None = None) -> WorkbookReport:
    """Connect, list the tabs and, per tab mailer uses, the columns found and missing."""
    report = WorkbookReport()
    try:
        workbook = workbook or open_workbook(settings)
        report.describe = workbook.describe()
        names = {tab: settings.workbook.tab(tab) for tab in DEFAULT_TABS}
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
        if table is None:
            severity = ERROR if logical in ("events", "signups") else WARNING
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
    return report


def _absent(logical: str, name: str) -> str:
    consequence = {
        "events": "no session can be planned",
        "signups": "no signup can be read",
        "members": "everyone counts as a non-member",
        "resources": "the digest has no resources to send",
        "subscribers": "the digest goes only to signers-up who opted in",
    }[logical]
    return f"no tab named {name!r}: {consequence} (map it under [workbook.tabs] {logical})"


def check_jobs(settings: Settings) -> tuple[list[config.JobSettings], list[Finding]]:
    try:
        return config.load_jobs(settings), []
    except ConfigError as err:
        return [], [Finding(ERROR, "jobs", str(err))]


def check_templates(settings: Settings, now: datetime) -> list[Finding]:
    folder = settings.root / "templates"
    findings = list(_check_sources(folder))
    if any(f.message.startswith(SYNTAX) for f in findings):
        return findings
    made = gallery.build(settings, now)
    for error in made.errors:
        where, _, message = error.partition(": ")
        findings.append(Finding(ERROR, where, message))
    for specimen in made.specimens:
        findings.extend(check_html(specimen.message.html, folder / f"{specimen.template}.mjml"))
    findings.extend(_check_structure(folder, made.mjml))
    return findings


def _check_structure(folder: Path, rendered: dict[str, set[str]]) -> Iterable[Finding]:
    """MJML's nesting rules, which mjml-python does not enforce, on what each template made."""
    reported = set()
    for name, sources in sorted(rendered.items()):
        for source in sources:
            for problem in misplaced(source):
                where = _tag_line(folder, name, problem.tag) or (
                    f"{folder / name}.mjml (rendered line {problem.line})"
                )
                if (where, problem.message) not in reported:
                    reported.add((where, problem.message))
                    yield Finding(ERROR, where, problem.message)


def _tag_line(folder: Path, name: str, tag: str) -> str:
    """file:line of `<tag` in the template or the pieces it includes (the first seen)."""
    own = folder / f"{name}.mjml"
    for path in [own, *sorted(p for p in folder.glob("*.mjml") if p != own)]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(rf"<{re.escape(tag)}\b", line, re.IGNORECASE):
                return f"{path}:{number}"
    return ""


def _check_sources(folder: Path) -> Iterable[Finding]:
    if not folder.is_dir():
        yield Finding(ERROR, str(folder), "no templates folder")
        return
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder))
    sizes_set = False
    for path in sorted([*folder.glob("*.mjml"), *folder.glob("*.txt")]):
        source = path.read_text(encoding="utf-8")
        try:
            env.parse(source, path.name, str(path))
        except jinja2.TemplateSyntaxError as err:
            yield Finding(ERROR, f"{path}:{err.lineno}", f"{SYNTAX}: {err.message}")
        if path.suffix != ".mjml":
            continue
        for pattern, message in SOURCE_WARNINGS:
            for match in pattern.finditer(source):
                line = source.count("\n", 0, match.start()) + 1
                yield Finding(WARNING, f"{path}:{line}", message)
        for match in IMAGE_TAG.finditer(source):
            if not re.search(r"\balt\s*=", match.group(0)):
                line = source.count("\n", 0, match.start()) + 1
                yield Finding(
                    ERROR,
                    f"{path}:{line}",
                    f'<{match.group(1)}> has no alt text (alt="" for a decorative image)',
                )
        for match in FONT_SIZE.finditer(source):
            tag_start = source.rfind("<", 0, match.start())
            tag = source[tag_start : match.start()]
            if not tag.startswith(("<mj-text", "<mj-button", "<mj-all", "<mj-table")):
                continue
            if tag.startswith(("<mj-text", "<mj-all")) and "<mj-attributes" in source[:tag_start]:
                sizes_set = sizes_set or float(match.group(1)) >= MIN_FONT_PX
            if float(match.group(1)) < MIN_FONT_PX:
                line = source.count("\n", 0, match.start()) + 1
                yield Finding(
                    ERROR,
                    f"{path}:{line}",
                    f"text at {match.group(1)} px is hard to read; use at least {MIN_FONT_PX} px",
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
    """Accessibility, links and size of one rendered email."""
    page = _Page()
    page.feed(markup)
    where = str(template)
    findings = []
    if not page.lang:
        findings.append(Finding(ERROR, where, 'no language: set <mjml lang="en"> in the layout'))
    if page.images_without_alt:
        findings.append(
            Finding(ERROR, where, f"{page.images_without_alt} image(s) without alt text")
        )
    for href, text in page.links:
        if not SAFE_LINK.match(href):
            findings.append(Finding(ERROR, where, f"link {href!r} is not https"))
        if text.casefold().strip(".…!") in VAGUE_LINK_TEXT:
            findings.append(Finding(ERROR, where, f"link text {text!r} does not say where it goes"))
    size = len(markup.encode("utf-8"))
    if size > GMAIL_CLIPS_AT:
        findings.append(
            Finding(WARNING, where, f"HTML is {size / 1024:.0f} KB; Gmail clips it over 102 KB")
        )
    return findings


__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "check_html",
    "check_jobs",
    "check_templates",
    "check_workbook",
]
