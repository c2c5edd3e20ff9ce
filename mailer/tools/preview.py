"""`mailer preview`: every email the site sends, in one page, with phone and desktop screenshots.

The emails come from `mailer.gallery` (the site's own jobs over the sample
workbook), so what the gallery shows is what people will get. Screenshots
are taken by headless Chromium through Playwright when both are there, by
Chromium alone otherwise, and skipped (with a note) when there is no Chromium.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.mail.mime import mime_bytes
from mailer.settings.config import Settings
from mailer.settings.languages import display_name
from mailer.tools import gallery
from mailer.tools.checks import check_html

if TYPE_CHECKING:
    from playwright.sync_api import Route

WIDTHS = (600, 375)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@dataclass
class Entry:
    specimen: gallery.Specimen
    page: str
    warnings: list[str]
    shots: dict[int, str] = field(default_factory=dict)


@dataclass
class PageEntry:
    """A page of `mailer serve` in the gallery: its file and screenshots."""

    label: str
    page: str
    shots: dict[int, str] = field(default_factory=dict)


@dataclass
class PreviewResult:
    index: Path
    entries: list[Entry]
    errors: list[str]
    screenshots: str  # how they were taken, or why not


def find_chromium() -> str | None:
    chosen = os.environ.get("MAILER_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def build(settings: Settings, now: datetime, folder: Path) -> PreviewResult:
    made = gallery.build(settings, now)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    entries = []
    for number, specimen in enumerate(made.specimens, 1):
        page = f"{number:02d}-{specimen.template}-{specimen.language}.html"
        (folder / page).write_text(specimen.message.html, encoding="utf-8")
        template = settings.root / "templates" / f"{specimen.template}.mjml"
        warnings = [
            f"{f.severity}: {f.message}" for f in check_html(specimen.message.html, template)
        ]
        entries.append(Entry(specimen, page, warnings))
    pages = []
    for number, shown in enumerate(made.pages, len(entries) + 1):
        page = f"{number:02d}-page-{shown.language}.html"
        (folder / page).write_text(shown.html, encoding="utf-8")
        pages.append(PageEntry(shown.label, page))
    how = _screenshots(folder, [*entries, *pages])
    index = folder / "index.html"
    text = _index(settings, entries, made.errors, how)
    text = text.replace("</body></html>", _pages(pages) + "</body></html>")
    index.write_text(text, encoding="utf-8")
    return PreviewResult(index, entries, made.errors, how)


def _screenshots(folder: Path, entries: Sequence[Entry | PageEntry]) -> str:
    chromium = find_chromium()
    if chromium is None:
        return "no Chromium found (install Debian's chromium, or set MAILER_CHROMIUM)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return _with_chromium_alone(chromium, folder, entries)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS[1:])
        try:
            for entry in entries:
                for width in WIDTHS:
                    page = browser.new_page(viewport={"width": width, "height": 800})
                    page.route("**/*", _local_only)
                    page.goto((folder / entry.page).resolve().as_uri())
                    shot = f"{Path(entry.page).stem}-{width}.png"
                    page.screenshot(path=str(folder / shot), full_page=True)
                    page.close()
                    entry.shots[width] = shot
        finally:
            browser.close()
    return f"headless Chromium ({chromium}) through Playwright, full page"


def _local_only(route: Route) -> None:
    """Emails load nothing from the network; neither does their preview."""
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()


def _with_chromium_alone(chromium: str, folder: Path, entries: Sequence[Entry | PageEntry]) -> str:
    for entry in entries:
        for width in WIDTHS:
            shot = f"{Path(entry.page).stem}-{width}.png"
            subprocess.run(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--screenshot={folder / shot}",
                    f"--window-size={width},2200",
                    (folder / entry.page).resolve().as_uri(),
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
            if (folder / shot).exists():
                entry.shots[width] = shot
    return f"headless Chromium ({chromium}), 2,200 px tall (install playwright for full pages)"


def _pages(pages: list[PageEntry]) -> str:
    """The pages behind the emails' links, as `mailer serve` shows them."""
    if not pages:
        return ""
    parts = ["<h1>The pages behind the links</h1>"]
    for entry in pages:
        label = html.escape(entry.label)
        parts += [
            f"<section><h2>{label}</h2>",
            f"<p><a href='{entry.page}'>Open the page</a></p><div class='shots'>",
        ]
        for width in WIDTHS:
            if width in entry.shots:
                parts.append(
                    f"<figure><img src='{entry.shots[width]}' width='{width}' "
                    f"alt='{label} at {width} px wide'><figcaption>{width} px</figcaption></figure>"
                )
        parts.append("</div></section>")
    return "\n".join(parts) + "\n"


def _index(settings: Settings, entries: list[Entry], errors: list[str], how: str) -> str:
    org = html.escape(settings.organization.name)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{org}: every email</title>",
        "<style>body{font:16px/1.5 system-ui,sans-serif;margin:2rem;color:#1f2933;"
        "background:#f7f7f5}section{background:#fff;border-radius:8px;padding:1.5rem;"
        "margin:0 0 2rem;box-shadow:0 1px 3px #0002}dt{font-weight:600}dd{margin:0 0 .5rem}"
        ".shots{display:flex;gap:1.5rem;align-items:flex-start;flex-wrap:wrap}"
        ".shots figure{margin:0}.shots img{border:1px solid #ccd;display:block}"
        ".langs{display:grid;grid-template-columns:repeat(auto-fit,minmax(24rem,1fr));gap:2rem}"
        ".langs>div{min-width:0}"
        "pre{white-space:pre-wrap;background:#f4f1ec;padding:1rem;border-radius:6px;"
        "max-width:70ch}.warn{color:#9b1c1c}</style></head><body>",
        f"<h1>{org}: every email mailer sends</h1>",
        "<p>Made by the site's own jobs from the sample workbook. "
        f"Screenshots: {html.escape(how)}.</p>",
    ]
    for error in errors:
        parts.append(f"<p class='warn'>error: {html.escape(error)}</p>")
    # Each email once, its languages side by side.
    by_label: dict[str, list[Entry]] = {}
    for entry in entries:
        by_label.setdefault(entry.specimen.label, []).append(entry)
    for label, versions in by_label.items():
        parts += [f"<section><h2>{html.escape(label)}</h2><div class='langs'>"]
        for entry in versions:
            parts += _version(settings, entry)
        parts.append("</div></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _version(settings: Settings, entry: Entry) -> list[str]:
    """One language's version of an email: its headers, pictures and plain text."""
    message = entry.specimen.message
    size = len(mime_bytes(message))
    sender = f"{message.sender_name} <{message.sender_email}>"
    language = entry.specimen.language
    name = display_name(settings, language) if language else ""
    parts = [
        f"<div lang='{html.escape(language)}'><h3>{html.escape(name)} ({html.escape(language)})"
        "</h3><dl>",
        f"<dt>Subject</dt><dd>{html.escape(message.subject)}</dd>",
        f"<dt>From</dt><dd>{html.escape(sender)}</dd>",
        f"<dt>Reply-To</dt><dd>{html.escape(message.reply_to or '(none)')}</dd>",
        f"<dt>To (sample)</dt><dd>{html.escape(message.to_email)}</dd>",
        f"<dt>Size</dt><dd>HTML {len(message.html.encode()) / 1024:.1f} KB; "
        f"whole message with attachments {size / 1024:.1f} KB</dd>",
        "<dt>Warnings</dt><dd>"
        + (
            "<br>".join(f"<span class='warn'>{html.escape(w)}</span>" for w in entry.warnings)
            or "none"
        )
        + "</dd></dl>",
        f"<p><a href='{entry.page}'>Open the HTML email</a></p>",
        "<div class='shots'>",
    ]
    for width in WIDTHS:
        if width in entry.shots:
            parts.append(
                f"<figure><img src='{entry.shots[width]}' width='{width}' "
                f"alt='{html.escape(entry.specimen.label)} at {width} px wide'>"
                f"<figcaption>{width} px</figcaption></figure>"
            )
    parts += [
        "</div><h4>Plain-text part</h4>",
        f"<pre>{html.escape(message.text)}</pre></div>",
    ]
    return parts
