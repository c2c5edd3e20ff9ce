"""One language as emails speak it: its catalog, its direction, its dates and durations.

Dates go through Babel (CLDR) in the session's own zone and the person's
locale: "miércoles, 9 de diciembre de 2026, 12:00–13:30 CST". English keeps
mailer's own wording ("Wednesday, December 9, 2026, 12:00–1:30 pm CST"). A
language CLDR has no calendar for (Latin-script Hmong, `hmn`) uses the
patterns the site sets under `[languages.<code>]`, with numbers only.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailer.mail.catalogs import Catalogs
from mailer.mail.invitations import describe_time
from mailer.model import Event
from mailer.settings.config import Settings
from mailer.settings.languages import cldr_locale, direction, site_languages

if TYPE_CHECKING:  # Babel loads when a date is first said in a language other than English
    from babel import Locale

# Where a site names no pattern for a language CLDR lacks: day/month/year, 24-hour clock.
FALLBACK_DATE = "d/M/y"
FALLBACK_TIME = "HH:mm"


@dataclass(frozen=True)
class Speech:
    code: str
    direction: str
    translations: gettext.NullTranslations
    cldr: bool  # the code's CLDR data is looked up (ENGLISH, the templates' own words: never)
    date_format: str = ""
    time_format: str = ""

    @functools.cached_property
    def locale(self) -> Locale | None:
        """Babel's locale for the code, looked up when a date is first said through it.

        English dates are mailer's own words: a run that speaks only English loads no Babel.
        """
        return cldr_locale(self.code) if self.cldr else None

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def counted(self, singular: str, plural: str, n: int) -> str:
        """'1 hour', '2 horas': a message with `%(num)s` in the right number."""
        return self.ngettext(singular, plural, n) % {"num": f"{n:,}"}

    def duration(self, minutes: int) -> str:
        hours, rest = divmod(minutes, 60)
        said_hours = self.counted("%(num)s hour", "%(num)s hours", hours)
        said_minutes = self.counted("%(num)s minute", "%(num)s minutes", rest)
        if hours and rest:
            # TRANSLATORS: a duration such as "1 hour 30 minutes"
            both = self.gettext("%(hours)s %(minutes)s")
            return both % {"hours": said_hours, "minutes": said_minutes}
        return said_hours if hours else said_minutes

    def describe(self, event: Event) -> dict[str, str]:
        """`when`, `short_when` and `duration` of a session, in its zone and this language."""
        if self.code == "en" or (self.code.startswith("en_") and self.locale is None):
            return describe_time(event)
        start, end = event.starts_at, event.ends_at.astimezone(event.starts_at.tzinfo)
        zone = start.tzname() or event.timezone
        end_zone = end.tzname() or event.timezone
        minutes = int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 60)
        return {
            "when": f"{self.long_date(start)}, {self.span(start, end, zone, end_zone)}",
            "short_when": f"{self.short_date(start)}, {self.clock(start)} {zone}",
            "duration": self.duration(minutes),
        }

    def day(self, moment: datetime) -> str:
        """A day without its weekday: 'December 9, 2026', '9 de diciembre de 2026'."""
        from babel.dates import format_date

        if self.code == "en":
            return f"{moment:%B} {moment.day}, {moment.year}"
        if self.locale is None:
            return format_date(moment, self.date_format or FALLBACK_DATE, locale="en")
        return format_date(moment, "long", locale=self.locale)

    def long_date(self, moment: datetime) -> str:
        from babel.dates import format_date

        if self.locale is None:
            return format_date(moment, self.date_format or FALLBACK_DATE, locale="en")
        return format_date(moment, "full", locale=self.locale)

    def short_date(self, moment: datetime) -> str:
        from babel.dates import format_date, format_skeleton

        if self.locale is None:
            return format_date(moment, self.date_format or FALLBACK_DATE, locale="en")
        return format_skeleton("MMMEd", moment, locale=self.locale)

    def clock(self, moment: datetime) -> str:
        from babel.dates import format_time

        if self.locale is None:
            return format_time(moment, self.time_format or FALLBACK_TIME, locale="en")
        return format_time(moment, "short", tzinfo=moment.tzinfo, locale=self.locale)

    def span(self, start: datetime, end: datetime, zone: str, end_zone: str) -> str:
        from babel.dates import format_interval

        if zone != end_zone or self.locale is None:
            return f"{self.clock(start)} {zone}–{self.clock(end)} {end_zone}".replace(
                f" {zone}–", "–" if zone == end_zone else f" {zone}–"
            )
        skeleton = "Hm" if "H" in self.locale.time_formats["short"].pattern else "hm"
        interval = format_interval(start, end, skeleton, tzinfo=start.tzinfo, locale=self.locale)
        return f"{interval} {zone}"


# The words the templates are written in: English with no catalog.
ENGLISH = Speech("en", "ltr", gettext.NullTranslations(), cldr=False)


def speech(settings: Settings, catalogs: Catalogs, code: str) -> Speech:
    own = settings.languages.get(code)
    return Speech(
        code=code,
        direction=direction(settings, code),
        translations=catalogs.translations(code),
        cldr=True,
        date_format=own.date_format if own else "",
        time_format=own.time_format if own else "",
    )


def site_speeches(settings: Settings, catalogs: Catalogs) -> Callable[[str], Speech | None]:
    """The site's languages by code ("" for its default); None for a code it does not speak."""
    known = site_languages(settings)
    made: dict[str, Speech] = {}

    def speaking(code: str) -> Speech | None:
        code = code or settings.organization.language
        if code not in known:
            return None
        if code not in made:
            made[code] = speech(settings, catalogs, code)
        return made[code]

    return speaking
