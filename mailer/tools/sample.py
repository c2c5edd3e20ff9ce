"""`mailer init`: a sample workbook dated from `now`, so the walkthrough never goes stale."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mailer.core.files import atomic_write
from mailer.settings.config import Settings

SESSION_WEEKDAY = 2  # Wednesday
# The "Preferred language" answers, as people type them; the rest leave it blank.
LANGUAGES = {"Tomás Álvarez": "Español", "Elena Petrova": "español", "Rosa Jiménez": "Español"}
LANGUAGES |= {"Maya Okafor": "English", "Grace Mensah": "English"}

PEOPLE = [
    ("Maya Okafor", "she/her", True),
    ("Daniel Reyes", "he/him", False),
    ("Priya Raman", "she/her", True),
    ("Samira Haddad", "she/they", False),
    ("Jordan Lee", "they/them", False),
    ("Elena Petrova", "she/her", False),
    ("Marcus Bell", "he/him", True),
    ("Aiko Tanaka", "she/her", False),
    ("Tomás Álvarez", "he/him", False),
    ("Grace Mensah", "she/her", True),
    ("Noah Feldman", "he/him", False),
    ("Leila Karimi", "she/her", False),
    ("Ben Whitaker", "he/him", False),
    ("Rosa Jiménez", "she/her", False),
]

RESOURCES = [
    (
        "Professional Quality of Life (ProQOL) self-assessment",
        "https://proqol.org/",
        "Self-assessments",
        "A free 30-item measure of compassion satisfaction, burnout and secondary trauma.",
        "Providers",
    ),
    (
        "Secondary traumatic stress: what it is and what helps",
        "https://www.nctsn.org/trauma-informed-care/secondary-traumatic-stress",
        "Compassion fatigue and vicarious trauma",
        "Signs to watch for in yourself and your team, and organizational responses.",
        "Providers",
    ),
    (
        "Know your rights: red cards",
        "https://www.ilrc.org/red-cards",
        "Know your rights",
        "Printable cards in many languages that clients can hand to an immigration agent.",
        "Clients",
    ),
]


def ascii_local(name: str) -> str:
    table = str.maketrans("áéíóúñÁÉÍÓÚÑ", "aeiounAEIOUN")
    return ".".join(name.translate(table).lower().split())


def session_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The next Wednesday at least three days ahead, 12:00 local time."""
    day = (now.astimezone(zone) + timedelta(days=3)).date()
    day += timedelta(days=(SESSION_WEEKDAY - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=zone)


def form_timestamp(moment: datetime) -> str:
    """How a Google Form writes its Timestamp column (M/D/YYYY H:MM:SS)."""
    return f"{moment.month}/{moment.day}/{moment.year} {moment.hour}:{moment:%M:%S}"


def sample_tables(settings: Settings, now: datetime) -> dict[str, list[list[str]]]:
    zone = settings.organization.zone
    start = session_start(now, zone)
    event_id = f"ccs-{start:%Y-%m-%d}"
    label = f"{start:%A, %B} {start.day} · 12:00–1:30 pm Central"
    events_columns = settings.workbook.column_map("events")
    events = [
        [events_columns[c] for c in ("id", "title", "label", "starts_at", "ends_at")]
        + [events_columns[c] for c in ("timezone", "capacity", "join_url", "signup_url", "status")]
        + ["title_es"],
        [
            event_id,
            "Community Support Conversation",
            label,
            f"{start:%Y-%m-%d %H:%M}",
            f"{start + timedelta(minutes=90):%Y-%m-%d %H:%M}",
            str(zone),
            "12",
            "https://zoom.example.org/j/81234567890",
            "https://forms.example.org/community-support",
            "",
            "Conversación de apoyo comunitario",
        ],
    ]

    columns = settings.workbook.column_map("signups")
    header = [
        columns[c]
        for c in ("timestamp", "email", "name", "pronouns", "member", "event", "digest", "language")
    ]
    answers: list[tuple[str, str, str, bool, bool]] = []
    first = now.astimezone(zone).replace(microsecond=0) - timedelta(days=5)
    for i, (name, pronouns, member) in enumerate(PEOPLE):
        email = f"{ascii_local(name)}@example.org"
        answers.append((name, email, pronouns, member, i % 3 == 0))
    # One person signs up again with different letter case; one address is malformed.
    answers.insert(5, ("Maya Okafor", "MAYA.Okafor@Example.org", "she/her", True, True))
    answers.insert(8, ("Chris Doe", "chris.doe@@example.org", "", False, False))
    signups = [header]
    for i, (name, email, pronouns, member, digest) in enumerate(answers):
        stamp = first + timedelta(hours=6 * i, minutes=7 * i, seconds=13 * i)
        signups.append(
            [
                form_timestamp(stamp),
                email,
                name,
                pronouns,
                "Yes" if member else "No",
                label,
                "Yes" if digest else "No",
                LANGUAGES.get(name, ""),
            ]
        )

    def headers(tab: str, fields: tuple[str, ...]) -> list[str]:
        mapping = settings.workbook.column_map(tab)
        return [mapping[f] for f in fields]

    members = [headers("members", ("email", "name"))] + [
        [f"{ascii_local(name)}@example.org", name] for name, _, member in PEOPLE if member
    ]
    added = (now.astimezone(zone) - timedelta(days=2)).date().isoformat()
    resource_fields = ("title", "url", "category", "description", "audience", "added_on")
    resources = [headers("resources", resource_fields)] + [[*row, added] for row in RESOURCES]
    subscriber_fields = ("email", "name", "subscribed_on", "unsubscribed_on", "language")
    subscribers = [headers("subscribers", subscriber_fields)] + [
        [f"{ascii_local(name)}@example.org", name, added, "", LANGUAGES.get(name, "")]
        for name, _, _ in PEOPLE[:3]
    ]
    tabs = settings.workbook
    return {
        tabs.tab("events"): events,
        tabs.tab("signups"): signups,
        tabs.tab("members"): members,
        tabs.tab("resources"): resources,
        tabs.tab("subscribers"): subscribers,
    }


def write_sample(settings: Settings, now: datetime) -> list[Path]:
    """Write the sample workbook unless the folder already holds one; returns files written."""
    folder = settings.workbook.path
    if any(folder.glob("*.csv")):
        return []
    written = []
    for tab, records in sample_tables(settings, now).items():
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\n").writerows(records)
        path = folder / f"{tab}.csv"
        atomic_write(path, buffer.getvalue().encode("utf-8"))
        written.append(path)
    return written
