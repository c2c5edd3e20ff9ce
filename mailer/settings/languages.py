"""The languages a site speaks: which there are, how people write their names, their own texts.

A site speaks its default language (`[organization] language`), every
language it has a catalog for (`locales/<code>/LC_MESSAGES/mailer.po`) and
every `[languages.<code>]` table. Names come from CLDR (through Babel) in
English and in the language itself, so "Spanish", "Español", "español
(Spanish)" and "es" all find `es`; a site adds spellings with `answers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.rules.languages import normalized
from mailer.settings.site_file import Settings

if TYPE_CHECKING:  # Babel's CLDR data loads when a language is first looked at, not every run
    from babel import Locale

DOMAIN = "mailer"


def locales_folder(settings: Settings) -> Path:
    return settings.root / "locales"


def site_languages(settings: Settings) -> list[str]:
    """The default language first, then every other language the site has, by code."""
    default = settings.organization.language
    found = set(settings.languages)
    folder = locales_folder(settings)
    if folder.is_dir():
        found.update(
            p.parent.parent.name for p in folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po") if p.is_file()
        )
    found.discard(default)
    return [default, *sorted(found)]


def cldr_locale(code: str) -> Locale | None:
    """Babel's locale for a language code, or None where CLDR has none (such as `hmn`)."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


def spellings(settings: Settings) -> dict[str, str]:
    """Every way an answer may name one of the site's languages (normalized) -> its code."""
    known: dict[str, str] = {}
    codes = site_languages(settings)
    for code in codes:
        names = [code, code.replace("_", "-")]
        locale = cldr_locale(code)
        if locale is not None:
            for speaker in ("en", *codes):
                name = locale.get_language_name(cldr_locale(speaker) or "en")
                if name:
                    names.append(name)
        extra = settings.languages.get(code)
        if extra is not None:
            names.extend([extra.name, *extra.answers])
        for name in names:
            if name.strip():
                known.setdefault(normalized(name), code)
    return known


def unknown_language(settings: Settings, answer: str) -> str:
    """Why an answer gives no language, what would, and what the person hears instead."""
    default = settings.organization.language
    accepted = ", ".join(
        f"{display_name(settings, code)} ({code})" for code in site_languages(settings)
    )
    return (
        f"{answer[:60]!r} is not a language this site writes in (accepted: {accepted}, in"
        f" English or in the language itself); the emails go in"
        f" {display_name(settings, default)} ({default})"
    )


def display_name(settings: Settings, code: str) -> str:
    """What a language calls itself, for organizers and galleries."""
    extra = settings.languages.get(code)
    if extra is not None and extra.name:
        return extra.name
    locale = cldr_locale(code)
    return (locale.get_display_name(locale) or code) if locale is not None else code


def direction(settings: Settings, code: str) -> str:
    """`ltr` or `rtl`, for the `dir` attribute of every email and page."""
    extra = settings.languages.get(code)
    if extra is not None and extra.direction:
        return extra.direction
    if code == "en" or code.startswith(("en_", "en-")):
        return "ltr"  # said without CLDR's data for English and its root (3.8 MiB once loaded)
    locale = cldr_locale(code)
    if locale is not None and locale.character_order == "right-to-left":
        return "rtl"
    return "ltr"


@dataclass(frozen=True)
class SiteTexts:
    """The site's own words from mailer.toml in one language, the default's where it has none."""

    what_to_expect: list[str]
    cause: str
    how_to_pay: str


def site_texts(settings: Settings, code: str) -> SiteTexts:
    own = settings.languages.get(code)
    expect = settings.confirmation.what_to_expect
    cause, how = settings.donation.cause, settings.donation.how_to_pay
    if own is not None and code != settings.organization.language:
        expect = own.what_to_expect if own.what_to_expect is not None else expect
        cause, how = own.cause or cause, own.how_to_pay or how
    return SiteTexts(what_to_expect=expect, cause=cause, how_to_pay=how)
