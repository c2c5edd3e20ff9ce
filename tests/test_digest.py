"""The resource digest: once per slot, only what is new, to the people who asked for it."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import timedelta

from conftest import NOW, body_text, with_public_url
from test_emails import read_eml

from mailer.sheet.csv_files import CsvWorkbook
from mailer.sheet.readers import SubscriberRows, Texts, repeated
from mailer.sheet.tabs import parse_subscribers

# NOW is Tuesday 2026-11-24; the digest slot is Mondays 09:00 Chicago (15:00 UTC).
NEXT_SLOT = NOW + timedelta(days=6, hours=1)  # Monday 2026-11-30, 10:00 Chicago


def add_resources(site, *titles: str, added_on: str = "2026-11-27") -> None:
    rows = site.rows("resources")
    for n, title in enumerate(titles):
        rows.append(
            {
                "title": title,
                "url": f"https://example.org/resource/{n}-{len(rows)}",
                "category": "Activist self-care" if n % 2 else "Burnout",
                "description": f"About {title.lower()}.",
                "audience": "Providers",
                "added_on": added_on,
            }
        )
    site.write_rows("resources", rows)


def digest_text(site, line) -> str:
    return body_text(read_eml(site, line))


def test_the_first_digest_goes_to_subscribers_and_opted_in_signers_up(site):
    result = site.mailer("run")

    recipients = {line["to"] for line in site.sent(digests=True)}
    assert "Digest (digest), slot 2026-11-23: 3 new resources to 7 people; 7 sent." in (
        result.output
    )
    # three subscribers, and four people who said yes on the form (Maya is both)
    assert recipients == {
        "maya.okafor@example.org",
        "daniel.reyes@example.org",
        "priya.raman@example.org",
        "samira.haddad@example.org",
        "marcus.bell@example.org",
        "grace.mensah@example.org",
        "ben.whitaker@example.org",
    }


def test_resources_are_grouped_in_the_configured_order(site):
    site.mailer("run")

    text = digest_text(site, site.sent(digests=True)[0])
    positions = [
        text.index(c)
        for c in ("Self-assessments", "Compassion fatigue and vicarious trauma", "Know your rights")
    ]
    assert positions == sorted(positions)
    assert "Professional Quality of Life (ProQOL) self-assessment (for providers)" in text


def test_only_resources_added_since_the_last_digest_appear_once_per_slot(site):
    site.mailer("run")
    add_resources(site, "Rest as resistance", "Noticing burnout early")

    site.mailer("run", now=NEXT_SLOT)
    again = site.mailer("run", now=NEXT_SLOT + timedelta(hours=3))

    second = [line for line in site.sent(digests=True) if "2026-11-30" in line["key"]]
    assert len(second) == 7
    text = digest_text(site, second[0])
    assert "Rest as resistance" in text and "Noticing burnout early" in text
    assert text.index("Burnout") < text.index("Activist self-care")
    assert "ProQOL" not in text
    assert "the 2026-11-30 digest was already decided." in again.output
    assert len(site.sent(digests=True)) == 14


def test_an_empty_digest_is_skipped_and_the_run_says_so(site):
    site.mailer("run")

    result = site.mailer("run", now=NEXT_SLOT)

    assert "no new resources since 2026-11-23; nothing sent" in result.output
    assert len(site.sent(digests=True)) == 7


def test_a_missed_slot_is_caught_up_only_until_the_next_slot(site):
    site.mailer("run")
    add_resources(site, "Rest as resistance")

    site.mailer("run", now=NEXT_SLOT + timedelta(days=8))  # the 30th was missed, the 7th came

    slots = Counter(line["key"].split(":")[2] for line in site.sent(digests=True))
    assert slots == {"2026-11-23": 7, "2026-12-07": 7}


def test_upcoming_sessions_show_seats_left(site):
    rows = site.rows("events")
    rows[0]["capacity"] = "20"
    site.write_rows("events", rows)

    site.mailer("run")

    text = digest_text(site, site.sent(digests=True)[0])
    assert "Community Support Conversation, Wednesday, December 2, 2026" in text
    assert "6 of 20 seats left" in text
    assert "Sign up: https://forms.example.org/community-support" in text


def test_every_digest_can_be_unsubscribed_from(site):
    with_public_url(site, "https://mail.example.org")

    site.mailer("run")

    mail = read_eml(site, site.sent(digests=True)[0])
    unsubscribe = mail["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://mail.example.org/unsubscribe/")
    assert ", <mailto:organizers@example.org?subject=unsubscribe%20" in unsubscribe
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe[1 : unsubscribe.index(">")]
    html = body_text(mail, "html")
    assert f'href="{link}"' in html
    assert "You receive this digest because you subscribed" in html


def stored_people(site) -> list[dict[str, str]]:
    """What the ledger keeps of each digest message's recipient (its envelope's person)."""
    with sqlite3.connect(site.root / "state" / "mailer.db") as db:
        rows = db.execute("SELECT envelope FROM messages WHERE kind = 'digest'").fetchall()
    return [json.loads(envelope)["person"] for (envelope,) in rows]


def test_a_digest_message_keeps_its_token_and_its_body_makes_the_links(site):
    public_url = "https://mail.example.org"
    with_public_url(site, public_url)

    site.mailer("run")

    people = stored_people(site)
    assert people and all(set(p) == {"name", "first_name", "email", "token"} for p in people)
    line = site.sent(digests=True)[0]
    token = next(p["token"] for p in people if p["email"] == line["to"])
    mail = read_eml(site, line)
    mailto = f"mailto:organizers@example.org?subject=unsubscribe%20{token}"
    assert mail["List-Unsubscribe"] == f"<{public_url}/unsubscribe/{token}>, <{mailto}>"
    assert f'href="{public_url}/forget/{token}"' in body_text(mail, "html")


def test_links_whose_own_text_reads_as_a_placeholder_are_kept_whole(site):
    public_url = "https://mail.example.org/%%mailer:name%%"
    with_public_url(site, public_url)

    site.mailer("run")

    people = stored_people(site)
    assert people and all(p["unsubscribe_url"].startswith(public_url) for p in people)
    mail = read_eml(site, site.sent(digests=True)[0])
    assert mail["List-Unsubscribe"].startswith(f"<{public_url}/unsubscribe/u2.")


def test_without_a_public_url_the_digest_unsubscribes_by_mail(site):
    site.mailer("run")

    mail = read_eml(site, site.sent(digests=True)[0])

    assert mail["List-Unsubscribe"].startswith("<mailto:organizers@example.org?subject=")
    assert mail["List-Unsubscribe-Post"] is None


def test_unsubscribing_by_hand_is_honoured_and_written_to_the_sheet(site):
    site.mailer("run")
    add_resources(site, "Rest as resistance")

    site.mailer("unsubscribe", "Priya.Raman@example.org")
    result = site.mailer("run", "digest", now=NEXT_SLOT)

    second = {line["to"] for line in site.sent(digests=True) if "2026-11-30" in line["key"]}
    assert "priya.raman@example.org" not in second and len(second) == 6
    assert "1 new resource to 6 people" in result.output
    rows = {row["email"]: row["unsubscribed_on"] for row in site.rows("subscribers")}
    assert rows["priya.raman@example.org"] == "2026-11-24"


def test_resubscribing_by_hand_brings_the_digest_back(site):
    site.mailer("run")
    site.mailer("unsubscribe", "priya.raman@example.org")

    result = site.mailer("resubscribe", "Priya.Raman@example.org")
    add_resources(site, "Rest as resistance")
    site.mailer("run", now=NEXT_SLOT)

    assert "is off the suppression list (was: unsubscribe)" in result.output
    second = {line["to"] for line in site.sent(digests=True) if "2026-11-30" in line["key"]}
    assert "priya.raman@example.org" in second
    again = site.mailer("resubscribe", "priya.raman@example.org")
    assert "was not on the suppression list" in again.output


def test_readers_held_field_by_field_are_the_subscribers_parsed(site):
    rows = [{**row, "language": ""} for row in site.rows("subscribers")]
    rows[0]["unsubscribed_on"] = "2026-11-01"
    rows[1]["email"] = " Ann.Lee@EXAMPLE.org "  # kept as typed, folded, and its domain lowered
    rows[2]["language"] = "Spanish"
    site.write_rows("subscribers", rows)
    table = CsvWorkbook(site.root / "lists").read(["subscribers"])["subscribers"]
    columns = {name: name for name in ("email", "name", "unsubscribed_on", "language")}
    parsed, _ = parse_subscribers(table, columns)
    plain = [s for s in parsed if s.key[0] == s.address == s.email and not s.language]

    held, held_plain = SubscriberRows(parsed), SubscriberRows(plain)

    assert list(held) == parsed and len(held) == len(parsed)
    ann = held[1]
    assert (ann.key, ann.address, ann.email) == (
        ("Ann.Lee@EXAMPLE.org",),
        "Ann.Lee@example.org",
        "ann.lee@example.org",
    )
    assert held[-1] == parsed[-1] and held[1:] == parsed[1:]
    assert list(held.unsubscribed_rows()) == [s for s in parsed if s.unsubscribed] != []
    assert held.named_languages() == {"", "Spanish"}
    assert list(held_plain) == plain != [] and held_plain.named_languages() == {""}


def test_a_reader_listed_twice_gets_one_digest_as_their_first_row_says(site):
    rows = site.rows("subscribers")
    daniel = rows[1] = {**rows[1], "language": "Spanish"}
    rows.append({**daniel, "email": " DANIEL.Reyes@example.org", "name": "Dan", "language": ""})
    rows.append({**rows[0], "name": "Maya again"})
    site.write_rows("subscribers", rows)

    result = site.mailer("run")

    assert "3 new resources to 7 people; 7 sent." in result.output
    theirs = [line for line in site.sent(digests=True) if line["to"] == daniel["email"]]
    assert len(theirs) == 1
    assert "Nuevos recursos para usted, Daniel" in digest_text(site, theirs[0])


def test_repeated_strings_are_found_among_many_without_a_set_of_them_all():
    texts = Texts()
    words = [f"reader{n % 4_000}@example.org" for n in range(4_100)] + ["ünï\ud800", "ünï\ud800"]
    for word in words:
        texts.append(word)

    assert list(texts) == words and texts[4_000] == words[4_000] and len(texts) == len(words)
    assert repeated(texts) == {f"reader{n}@example.org" for n in range(100)} | {"ünï\ud800"}
