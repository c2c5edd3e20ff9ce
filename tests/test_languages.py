"""Every person in their own language: the sample's "Español" answers get Spanish email.

The sample workbook has three signups answering "Español" (Tomás Álvarez and
Elena Petrova confirmed, Rosa Jiménez second on the waitlist); the others
leave the question blank or answer "English".
"""

from __future__ import annotations

import csv
import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import icalendar
from conftest import NOW, SiteDir
from test_digest import digest_text
from test_emails import read_eml

from mailer.core.tokens import load_secret
from mailer.mail.catalogs import Catalogs
from mailer.mail.speech import Speech, site_speeches, speech
from mailer.model import Event
from mailer.rules.languages import language_of
from mailer.settings.languages import spellings
from mailer.site import site_renderer
from mailer.tools.sample import session_start
from mailer.web.app import create_app

SPANISH = ("tomas.alvarez@example.org", "elena.petrova@example.org", "rosa.jimenez@example.org")


def path_in(text: str, page: str) -> str:
    """The path of the first link to `mailer serve`'s `page` in an email's text."""
    found = re.search(rf"https://care\.example\.org(/{page}/\S+)", text)
    assert found, text
    return found.group(1)


def sent_to(site: SiteDir, address: str, kind: str):
    line = next(x for x in site.sent() if x["to"] == address and x["kind"] == kind)
    return line, read_eml(site, line)


def test_the_spanish_answers_get_spanish_email_and_the_rest_english(site):
    site.mailer("run", "signups")

    line, message = sent_to(site, "tomas.alvarez@example.org", "confirmation")
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    calendar = next(
        p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"
    )
    vevent = icalendar.Calendar.from_ical(calendar.get_payload(decode=True)).walk("VEVENT")[0]

    assert line["subject"] == (
        "Inscripción confirmada: Conversación de apoyo comunitario, mié, 2 dic, 12:00 CST"
    )
    assert "miércoles, 2 de diciembre de 2026, 12:00–13:30 CST" in plain
    assert "1 hora y 30 minutos por Zoom" in plain
    assert "Gracias por inscribirse." in plain and "Thank you" not in plain
    assert "Fondo Comunitario de Defensa Legal" in plain, "the site's own words, in Spanish"
    assert "Lo que se comparte en la sala se queda en la sala" in plain
    assert '<html lang="es" dir="ltr"' in html
    assert str(vevent["SUMMARY"]) == "Conversación de apoyo comunitario"
    assert str(vevent["DESCRIPTION"]).startswith("Conversación de apoyo comunitario con ")

    waitlisted, notice = sent_to(site, "rosa.jimenez@example.org", "waitlist")
    assert waitlisted["subject"].startswith("Lista de espera: ")
    assert "número 2 en la lista de espera" in notice.get_body(("plain",)).get_content()

    english, message = sent_to(site, "daniel.reyes@example.org", "confirmation")
    assert english["subject"].startswith("You're confirmed: Community Support Conversation")
    assert '<html lang="en" dir="ltr"' in message.get_body(("html",)).get_content()


def test_the_language_is_kept_with_the_seat_for_later_reminders(site):
    site.mailer("run", "signups")
    # The answer is gone from the sheet later (a column deleted): the ledger remembers.
    signups = site.root / "lists" / "signups.csv"
    rows = list(csv.reader(signups.open(encoding="utf-8")))
    column = rows[0].index("Preferred language")
    signups.write_text(
        "".join(",".join(f'"{c}"' for i, c in enumerate(r) if i != column) + "\n" for r in rows),
        encoding="utf-8",
    )
    start = session_start(NOW, site.settings().organization.zone)

    site.mailer("run", "signups")
    site.mailer("run", "reminders", now=start - timedelta(hours=1))

    line = next(x for x in site.sent() if x["to"] == SPANISH[1] and x["kind"] == "reminder")
    assert line["subject"].startswith("Recordatorio: Conversación de apoyo comunitario comienza")


def test_an_answer_mailer_cannot_map_is_reported_and_the_default_language_used(site):
    signups = site.root / "lists" / "signups.csv"
    signups.write_text(
        signups.read_text(encoding="utf-8").replace(",Español\n", ",Klingon\n", 1),
        encoding="utf-8",
    )

    result = site.mailer("run", "signups")

    rows = list(csv.reader(signups.open(encoding="utf-8")))
    row = next(n for n, r in enumerate(rows, 1) if "Klingon" in r)
    who = rows[row - 1][1]
    assert f"signups row {row}, column 'Preferred language': 'Klingon' is not a language" in (
        " ".join(result.output.split())
    )
    assert "English (en), español (es)" in " ".join(result.output.split())
    line, _ = sent_to(site, who, "confirmation")
    assert line["subject"].startswith("You're confirmed: ")


def test_any_common_spelling_of_a_language_finds_it(site):
    known = spellings(site.settings())

    for answer in ("Español", "Spanish", "es", "español (Spanish)", "ES-MX", "Espanol", "Inglés"):
        assert language_of(answer, known) == ("en" if answer == "Inglés" else "es"), answer
    assert language_of("Somali", known) is None
    assert language_of("", known) is None


def test_a_po_missing_one_message_falls_back_to_english_for_that_message_only(tmp_path: Path):
    shipped = (
        Path(__file__).resolve().parent.parent / "locales" / "es" / "LC_MESSAGES" / "mailer.po"
    )
    folder = tmp_path / "locales" / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    text = shipped.read_text(encoding="utf-8")
    text = text.replace('msgstr "Qué puede esperar"', 'msgstr ""')
    (folder / "mailer.po").write_text(text, encoding="utf-8")

    spanish = Catalogs(tmp_path / "locales", "en").translations("es")

    assert spanish.gettext("What to expect") == "What to expect"
    assert spanish.gettext("Claim my seat") == "Quiero este lugar"


def event_at(start_text: str, end_text: str) -> Event:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Chicago")
    return Event(
        id="e",
        title="Conversation",
        starts_at=datetime.fromisoformat(start_text).replace(tzinfo=zone),
        ends_at=datetime.fromisoformat(end_text).replace(tzinfo=zone),
        timezone="America/Chicago",
        capacity=12,
    )


def test_a_language_cldr_has_no_calendar_for_uses_the_sites_pattern(site):
    config = site.config
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[languages.hmn]\nname = "Hmoob"\ndate_format = "d/M/y"\ntime_format = "HH:mm"\n',
        encoding="utf-8",
    )
    settings = site.settings()
    hmong: Speech = speech(settings, Catalogs(site.root / "locales", "en"), "hmn")

    said = hmong.describe(event_at("2026-12-09 12:00", "2026-12-09 13:30"))

    assert hmong.locale is None
    assert said["when"] == "9/12/2026, 12:00–13:30 CST"
    assert said["short_when"] == "9/12/2026, 12:00 CST"
    assert language_of("Hmoob", spellings(settings)) == "hmn"


def test_the_seat_page_opened_from_a_spanish_email_speaks_spanish(site):
    site.config.write_text(
        site.config.read_text().replace(
            'public_url = ""', 'public_url = "https://care.example.org"'
        )
    )
    site.mailer("run", "signups")
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    app = create_app(
        settings.ledger.path,
        secret,
        settings.organization.name,
        clock=lambda: NOW,
        languages=site_speeches(settings, site_renderer(settings).catalogs),
    )
    _, message = sent_to(site, "tomas.alvarez@example.org", "confirmation")
    link = path_in(message.get_body(("plain",)).get_content(), "seat")
    _, english = sent_to(site, "daniel.reyes@example.org", "confirmation")
    english_link = path_in(english.get_body(("plain",)).get_content(), "seat")

    page = app.test_client().get(link).get_data(as_text=True)
    bare = app.test_client().get(link.split("?")[0]).get_data(as_text=True)
    other = app.test_client().get(english_link).get_data(as_text=True)

    assert link.endswith("?lang=es") and "?lang" not in english_link
    assert '<html lang="es" dir="ltr">' in page
    assert "¿Quiere liberar su lugar?" in page and "Liberar mi lugar" in page
    assert "miércoles, 2 de diciembre de 2026" in page
    assert "Conversación de apoyo comunitario" in page
    assert "¿Quiere liberar su lugar?" in bare, "the seat remembers its language"
    assert '<html lang="en" dir="ltr">' in other and "Release your seat?" in other


def test_a_digest_to_readers_in_two_languages_has_one_body_per_language(site):
    readers = site.rows("subscribers")
    for row in readers:
        if row["email"] in ("daniel.reyes@example.org", "priya.raman@example.org"):
            row["language"] = "Español" if row["email"].startswith("daniel") else "es"
    site.write_rows("subscribers", readers)
    resources = site.rows("resources")
    spanish_only = {
        **resources[0],
        "title": "Conozca sus derechos",
        "url": "https://example.org/derechos",
        "category": "Know your rights",
        "description": "Tarjetas para entregar a un agente de inmigración.",
        "language": "Español",
    }
    site.write_rows("resources", [{**r, "language": ""} for r in resources] + [spanish_only])

    site.mailer("run")

    lines = site.sent(digests=True)
    spanish = {x["to"] for x in lines if x["subject"].startswith("Recursos de ")}
    assert spanish == {"daniel.reyes@example.org", "priya.raman@example.org"}
    assert all(
        x["subject"].startswith("Community Care Network resources, ")
        for x in lines
        if x["to"] not in spanish
    )
    for line in lines:
        text = digest_text(site, line)
        assert ("Conozca sus derechos" in text) == (line["to"] in spanish), line["to"]
        assert "ProQOL" in text, "a resource in no language reaches everyone"
    with sqlite3.connect(site.settings().ledger.path) as db:
        bodies = db.execute(
            "SELECT count(DISTINCT body_id), count(*) FROM messages WHERE kind = 'digest'"
        ).fetchone()
    assert bodies == (2, 7), "one shared body per language"


def test_a_po_missing_one_message_shows_it_in_english_and_check_names_it(site):
    po = site.root / "locales" / "es" / "LC_MESSAGES" / "mailer.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace('msgstr "Qué puede esperar"', 'msgstr ""'),
        encoding="utf-8",
    )

    checked = site.mailer("check")
    site.mailer("run", "signups")

    said = " ".join(checked.output.split())
    assert "Translations: es: 1 of the messages without a translation (shown in en)" in said
    assert f"{po}: warning: no es translation (shown in en): 'What to expect'" in said
    _, message = sent_to(site, "tomas.alvarez@example.org", "confirmation")
    plain = message.get_body(("plain",)).get_content()
    assert "What to expect:" in plain, "the one message without a translation, in English"
    assert "Gracias por inscribirse." in plain and "Qué puede esperar" not in plain


def test_the_unsubscribe_page_of_a_spanish_digest_speaks_spanish(site):
    site.config.write_text(
        site.config.read_text().replace(
            'public_url = ""', 'public_url = "https://care.example.org"'
        )
    )
    readers = site.rows("subscribers")
    site.write_rows(
        "subscribers",
        [{**r, "language": "es" if r["email"].startswith("priya") else ""} for r in readers],
    )
    site.mailer("run")
    settings = site.settings()
    secret = load_secret(settings.ledger.path.parent, may_generate=True)
    app = create_app(
        settings.ledger.path,
        secret,
        settings.organization.name,
        clock=lambda: NOW,
        languages=site_speeches(settings, site_renderer(settings).catalogs),
    )
    line = next(x for x in site.sent(digests=True) if x["to"] == "priya.raman@example.org")
    link = path_in(digest_text(site, line), "unsubscribe")

    page = app.test_client().get(link).get_data(as_text=True)
    done = app.test_client().post(link).get_data(as_text=True)

    assert link.endswith("?lang=es")
    assert '<html lang="es" dir="ltr">' in page and "¿Quiere cancelar la suscripción" in page
    assert "Su suscripción quedó cancelada" in done
