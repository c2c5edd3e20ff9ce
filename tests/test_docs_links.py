"""Every relative link in the READMEs and docs/ reaches a file, and each #anchor a heading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import REPO
from markdown_it import MarkdownIt
from markdown_it.token import Token

DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", REPO / "lists" / "README.md", *DOCS]
MARKDOWN = MarkdownIt("commonmark", {"html": False})


def inline_children(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield from token.children or []


def relative_links(page: Path) -> list[str]:
    tokens = MARKDOWN.parse(page.read_text())
    hrefs = [str(t.attrs["href"]) for t in inline_children(tokens) if t.type == "link_open"]
    return [href for href in hrefs if not re.match(r"[a-z][a-z0-9+.-]*:", href)]


def anchors(page: Path) -> set[str]:
    """The ids GitHub gives the headings: lower case, punctuation dropped, spaces to hyphens."""
    tokens = MARKDOWN.parse(page.read_text())
    seen: dict[str, int] = {}
    ids = set()
    for opening, inline in pairwise(tokens):
        if opening.type != "heading_open":
            continue
        text = "".join(child.content for child in inline.children or [])
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


LINKS = [
    pytest.param(page, href, id=f"{page.relative_to(REPO)}:{href}")
    for page in PAGES
    for href in relative_links(page)
]


@pytest.mark.parametrize(("page", "href"), LINKS)
def test_every_relative_link_reaches_a_file_and_heading(page, href):
    path, _, anchor = href.partition("#")
    target = (page.parent / unquote(path)).resolve() if path else page

    assert target.exists(), f"{page.relative_to(REPO)} links to {href}: no such file"
    if anchor:
        assert anchor in anchors(target), (
            f"{page.relative_to(REPO)} links to {href}: no such heading"
        )


def test_the_readme_links_every_page_in_docs():
    linked = {
        (REPO / href.partition("#")[0]).resolve() for href in relative_links(REPO / "README.md")
    }

    for page in DOCS:
        assert page.resolve() in linked, page.name


def test_a_heading_id_drops_punctuation_and_numbers_repeats(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "## The sheet is the organizers' truth\n\n## `make image-test`: no registry\n\n"
        "## Notes\n\n## Notes\n\n```\n## not a heading\n```\n"
    )

    assert anchors(page) == {
        "the-sheet-is-the-organizers-truth",
        "make-image-test-no-registry",
        "notes",
        "notes-1",
    }
