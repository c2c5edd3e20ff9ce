"""`mailer preview`: the gallery of every email, with screenshots a phone-sized reader would see."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from conftest import NOW

from mailer.tools.gallery import Specimen
from mailer.tools.preview import Entry, _screenshots, _with_chromium_alone, build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


EMAILS = (
    "Confirmation, member",
    "Confirmation, non-member (donation details)",
    "Waitlisted",
    "Left the waitlist (acknowledgement)",
    "Seat released (acknowledgement, calendar cancellation)",
    "A freed seat offered, to claim",
    "Promoted from the waitlist",
    "Reminder",
    "Digest",
    "Session moved",
    "Session cancelled",
)
PAGES = (
    "Page: release your seat?",
    "Page: leave the waitlist?",
    "Page: a link that is not valid",
    "Page: claim your seat?",
    "Page: your seat is released",
)


def assert_every_email_and_page_is_shown(index: str) -> None:
    for label in (*EMAILS, *PAGES):
        assert f"<h2>{label}</h2>" in index
    assert "Plain-text part" in index and "Subject" in index and "KB" in index
    assert "donate" in index.lower() or "donation" in index.lower()
    assert "<h3>español (es)</h3>" in index and "Inscripción confirmada: " in index


def assert_phone_and_desktop_shots(shots: list[Path]) -> None:
    widths = sorted({png_size(shot)[0] for shot in shots})
    assert widths == [375, 600]
    assert all(png_size(shot)[1] >= 600 for shot in shots)


@pytest.mark.slow
@needs_chromium
def test_preview_writes_the_gallery_with_both_widths_of_every_email(site):
    result = site.mailer("preview")

    assert result.exit_code == 0, result.output
    assert_every_email_and_page_is_shown((site.root / "preview" / "index.html").read_text())
    shots = sorted((site.root / "preview").glob("*.png"))
    # every email and page, at both widths, in English and in Spanish
    assert len(shots) == 2 * 2 * (len(EMAILS) + len(PAGES))
    assert_phone_and_desktop_shots(shots)


@needs_chromium
def test_playwright_photographs_an_email_at_both_widths_full_page(site, tmp_path, monkeypatch):
    with monkeypatch.context() as no_browser:  # the gallery alone; the screenshots come next
        no_browser.setenv("MAILER_CHROMIUM", str(tmp_path / "no-such-chromium"))
        result = build(site.settings(), NOW, tmp_path / "gallery")
    assert_every_email_and_page_is_shown(result.index.read_text())
    entries = [Entry(e.specimen, e.page, []) for e in result.entries[:1]]

    how = _screenshots(tmp_path / "gallery", entries)

    assert "through Playwright, full page" in how
    assert sorted(entries[0].shots) == [375, 600]
    assert_phone_and_desktop_shots([tmp_path / "gallery" / s for s in entries[0].shots.values()])


@pytest.mark.slow
@needs_chromium
def test_without_playwright_chromium_alone_takes_the_screenshots(site, tmp_path, monkeypatch):
    with monkeypatch.context() as no_browser:  # the gallery alone; the screenshots come next
        no_browser.setenv("MAILER_CHROMIUM", str(tmp_path / "no-such-chromium"))
        result = build(site.settings(), NOW, tmp_path / "gallery")
    entries = [Entry(e.specimen, e.page, []) for e in result.entries[:1]]

    assert CHROMIUM is not None
    how = _with_chromium_alone(CHROMIUM, tmp_path / "gallery", entries)

    assert "2,200 px tall" in how
    assert sorted(entries[0].shots) == [375, 600]
    assert png_size(tmp_path / "gallery" / entries[0].shots[375])[0] == 375
    assert isinstance(result.entries[0].specimen, Specimen)


def test_without_chromium_the_gallery_is_written_and_says_why_there_are_no_pictures(
    site, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MAILER_CHROMIUM", raising=False)

    result = site.mailer("preview")

    assert result.exit_code == 0, result.output
    assert "no Chromium found" in result.output
    index = (site.root / "preview" / "index.html").read_text()
    assert "<h2>Digest</h2>" in index and "no Chromium found" in index
    assert not list((site.root / "preview").glob("*.png"))
