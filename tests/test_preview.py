"""`mailer preview`: the gallery of every email, with screenshots a phone-sized reader would see."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from conftest import NOW

from mailer.tools.gallery import Specimen
from mailer.tools.preview import Entry, _with_chromium_alone, build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


@pytest.mark.slow
@needs_chromium
def test_preview_writes_the_gallery_with_both_widths_of_every_email(site):
    result = site.mailer("preview")

    assert result.exit_code == 0, result.output
    index = (site.root / "preview" / "index.html").read_text()
    for label in (
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
    ):
        assert f"<h2>{label}</h2>" in index
    assert "Plain-text part" in index and "Subject" in index and "KB" in index
    shots = sorted((site.root / "preview").glob("*.png"))
    for page in (
        "Page: release your seat?",
        "Page: leave the waitlist?",
        "Page: a link that is not valid",
        "Page: claim your seat?",
        "Page: your seat is released",
    ):
        assert f"<h2>{page}</h2>" in index
    assert len(shots) == 2 * (11 + 5)  # every email and every page, at both widths
    widths = sorted({png_size(shot)[0] for shot in shots})
    assert widths == [375, 600]
    assert all(png_size(shot)[1] >= 600 for shot in shots)
    assert "donate" in index.lower() or "donation" in index.lower()


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
