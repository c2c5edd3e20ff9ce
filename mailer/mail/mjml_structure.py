"""MJML's grammar, checked: mjml-python renders unknown tags and bad nesting without a word.

Only the structure is checked (which mj- element may hold which); what sits
inside an ending tag such as mj-text is HTML and is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

CONTENT = {
    "mj-text",
    "mj-button",
    "mj-image",
    "mj-divider",
    "mj-spacer",
    "mj-table",
    "mj-social",
    "mj-raw",
    "mj-accordion",
    "mj-carousel",
    "mj-navbar",
}
CHILDREN: dict[str, set[str]] = {
    "mjml": {"mj-head", "mj-body", "mj-raw"},
    "mj-head": {
        "mj-title",
        "mj-preview",
        "mj-attributes",
        "mj-style",
        "mj-font",
        "mj-breakpoint",
        "mj-html-attributes",
        "mj-raw",
    },
    "mj-body": {"mj-section", "mj-wrapper", "mj-hero", "mj-raw"},
    "mj-wrapper": {"mj-section", "mj-hero", "mj-raw"},
    "mj-section": {"mj-column", "mj-group", "mj-raw"},
    "mj-group": {"mj-column", "mj-raw"},
    "mj-column": CONTENT,
    "mj-hero": CONTENT,
    "mj-social": {"mj-social-element", "mj-raw"},
    "mj-navbar": {"mj-navbar-link", "mj-raw"},
    "mj-accordion": {"mj-accordion-element", "mj-raw"},
    "mj-accordion-element": {"mj-accordion-title", "mj-accordion-text", "mj-raw"},
    "mj-carousel": {"mj-carousel-image"},
}
# Anything goes inside these: HTML, CSS, text.
OPAQUE = {
    "mj-text",
    "mj-button",
    "mj-table",
    "mj-raw",
    "mj-style",
    "mj-title",
    "mj-preview",
    "mj-social-element",
    "mj-navbar-link",
    "mj-accordion-title",
    "mj-accordion-text",
    "mj-html-attributes",
}
# mj-attributes holds defaults per tag name, mj-all and mj-class.
ATTRIBUTE_TAGS = "mj-attributes"
VOID = {
    "mj-image",
    "mj-divider",
    "mj-spacer",
    "mj-carousel-image",
    "mj-font",
    "mj-breakpoint",
    "mj-all",
    "mj-class",
}
KNOWN = set(CHILDREN) | OPAQUE | VOID | CONTENT | {ATTRIBUTE_TAGS}
for allowed in CHILDREN.values():
    KNOWN |= allowed


@dataclass(frozen=True)
class Misplaced:
    line: int
    tag: str
    message: str


class _Walker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.found: list[Misplaced] = []

    def _opaque(self) -> bool:
        return any(tag in OPAQUE or tag == ATTRIBUTE_TAGS for tag in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, closes=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, closes=True)

    def _start(self, tag: str, closes: bool) -> None:
        line = self.getpos()[0]
        if self._opaque():
            in_attributes = self.stack and self.stack[-1] == ATTRIBUTE_TAGS
            if in_attributes and tag.startswith("mj-") and tag not in KNOWN:
                self.found.append(Misplaced(line, tag, f"<{tag}> is not an MJML tag"))
            return
        if not tag.startswith("mj") or (tag != "mjml" and not tag.startswith("mj-")):
            parent = self.stack[-1] if self.stack else "the top"
            self.found.append(
                Misplaced(line, tag, f"<{tag}> is HTML outside an mj-text or mj-raw ({parent})")
            )
        elif tag not in KNOWN:
            self.found.append(Misplaced(line, tag, f"<{tag}> is not an MJML tag"))
        elif self.stack and tag not in CHILDREN.get(self.stack[-1], set()):
            self.found.append(Misplaced(line, tag, f"<{tag}> cannot go inside <{self.stack[-1]}>"))
        elif not self.stack and tag != "mjml":
            self.found.append(Misplaced(line, tag, f"<{tag}> outside <mjml>"))
        if not closes and tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass


def misplaced(source: str) -> list[Misplaced]:
    """Unknown mj- tags and elements where MJML does not allow them, by line of `source`."""
    walker = _Walker()
    walker.feed(source)
    walker.close()
    return walker.found
