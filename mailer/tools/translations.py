"""What each of the site's languages still lacks: the messages with no translation in its .po.

The messages are extracted afresh from the site's templates and mailer's own
code (as `make translations` does into locales/mailer.pot), so a template
edited since the .pot was made is counted too. An entry that is missing,
empty or marked fuzzy is untranslated: emails show it in the default
language.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract, extract_from_dir

import mailer
from mailer.mail.catalogs import CatalogError, po_path, read_catalog, untranslated
from mailer.settings.config import Settings
from mailer.settings.languages import locales_folder, site_languages

KEYWORDS = {**DEFAULT_KEYWORDS, "counted": (1, 2), "N_": None}
TEMPLATE_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
TEMPLATE_SUFFIXES = (".mjml", ".txt")
Message = str | tuple[str, ...]  # one text, or a singular and its plurals
Found = tuple[str, int, Message, str | None]  # file, line, message, context


def wanted_messages(settings: Settings) -> Catalog:
    """Every message the site's emails and pages say, as a .pot would hold them."""
    catalog = Catalog(domain="mailer")
    found = [*own_messages(), *template_messages(settings.root / "templates")]
    for filename, line, message, context in found:
        catalog.add(message, locations=[(filename, line)], context=context)
    return catalog


@functools.cache
def own_messages() -> tuple[Found, ...]:
    """What mailer's own code says, read once: the code does not change while it runs."""
    found = extract_from_dir(
        str(Path(mailer.__file__).parent),
        [("**.py", "python")],
        keywords=KEYWORDS,
        strip_comment_tags=True,
    )
    return tuple(
        (filename, line, message, context) for filename, line, message, _, context in found
    )


def template_messages(folder: Path) -> list[Found]:
    """What the site's templates say; a template is read again only once its text changes."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix in TEMPLATE_SUFFIXES and p.is_file())
    return [
        (path.relative_to(folder).as_posix(), line, message, context)
        for path in paths
        for line, message, context in messages_in_template(path.read_bytes())
    ]


@functools.lru_cache(maxsize=256)
def messages_in_template(source: bytes) -> tuple[tuple[int, Message, str | None], ...]:
    found = extract(
        "jinja2",
        io.BytesIO(source),
        keywords=KEYWORDS,
        options=TEMPLATE_OPTIONS,
        strip_comment_tags=True,
    )
    return tuple((line, message, context) for line, message, _, context in found)


@dataclass
class Missing:
    """One language's gaps: its .po (or where it should be) and the messages it lacks."""

    language: str
    path: Path
    messages: list[str] = field(default_factory=list)
    problem: str = ""  # the .po is absent or unreadable


def missing_translations(settings: Settings) -> list[Missing]:
    """Per language other than the default, the messages without a translation."""
    wanted = wanted_messages(settings)
    folder = locales_folder(settings)
    report = []
    for code in site_languages(settings)[1:]:
        path = po_path(folder, code)
        if not path.is_file():
            every = [m.id if isinstance(m.id, str) else m.id[0] for m in wanted if m.id]
            report.append(Missing(code, path, every, "no catalog"))
            continue
        try:
            catalog = read_catalog(path, code)
        except CatalogError as err:
            report.append(Missing(code, path, [], str(err)))
            continue
        report.append(Missing(code, path, untranslated(catalog, wanted)))
    return report
