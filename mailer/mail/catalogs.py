"""Gettext catalogs: each `locales/<code>/LC_MESSAGES/mailer.po`, compiled in memory when read.

The .po files are the only thing committed: Babel reads each one and writes
its .mo into memory the first time a language is asked for, so a fresh clone
(or a translator's edit) works with no build step and no compiled file can
drift from its source. An entry left empty or marked fuzzy is not compiled;
gettext then falls back string by string to the default language's catalog,
and past that to the English the templates are written in. Never a blank.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.core.errors import MailerError

if TYPE_CHECKING:  # Babel loads when a catalog is first read, not with every run
    from babel.messages.catalog import Catalog

DOMAIN = "mailer"


class CatalogError(MailerError):
    """A .po file that cannot be read."""


def po_path(folder: Path, code: str) -> Path:
    return folder / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path, code: str) -> Catalog:
    from babel.messages.pofile import read_po

    try:
        with path.open("rb") as stream:
            return read_po(stream, locale=None, domain=DOMAIN, abort_invalid=True)
    except Exception as err:  # babel raises PoFileError, ValueError, UnicodeError...
        raise CatalogError(f"{path}: not a readable .po file for {code!r}: {err}") from err


def compiled(catalog: Catalog) -> gettext.GNUTranslations:
    """A catalog's .mo, written to memory and read back as gettext translations."""
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass
class Catalogs:
    """The site's translations, one per language, each falling back to the default language."""

    folder: Path
    default: str = "en"

    def __post_init__(self) -> None:
        self._loaded: dict[str, gettext.NullTranslations] = {}

    def translations(self, code: str) -> gettext.NullTranslations:
        if code not in self._loaded:
            fallback = self._own(self.default)
            if code == self.default:
                self._loaded[code] = fallback
            else:
                own = self._own(code)
                if own is not fallback:
                    own.add_fallback(fallback)
                self._loaded[code] = own
        return self._loaded[code]

    def _own(self, code: str) -> gettext.NullTranslations:
        path = po_path(self.folder, code)
        if not path.is_file():
            return gettext.NullTranslations()
        return compiled(read_catalog(path, code))

    def gettext(self, code: str, message: str) -> str:
        return self.translations(code).gettext(message)

    def ngettext(self, code: str, singular: str, plural: str, n: int) -> str:
        return self.translations(code).ngettext(singular, plural, n)


def untranslated(catalog: Catalog, wanted: Catalog) -> list[str]:
    """The messages of `wanted` (the .pot) that `catalog` has no usable translation for."""
    missing = []
    for message in wanted:
        if not message.id:
            continue
        own = catalog.get(message.id, context=message.context)
        strings = own.string if own is not None else None
        done = all(strings) if isinstance(strings, (list, tuple)) else bool(strings)
        if own is None or own.fuzzy or not done:
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing
