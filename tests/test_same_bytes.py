"""The emails are the same bytes as the golden copies made before the send path was sped up.

Date, Message-ID and MIME boundaries differ from run to run, so they are
normalised; every other byte of every message (headers, text and html parts,
the .ics invitation, unsubscribe links) must match. After an intended change to
what is sent, write the golden copies again with MAILER_WRITE_GOLDEN=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, SiteDir
from test_digest import NEXT_SLOT, add_resources
from test_reminders import START

GOLDEN = Path(__file__).parent / "golden"
WRITE = os.environ.get("MAILER_WRITE_GOLDEN") == "1"
SECRET = "golden-secret-for-the-same-bytes-test"
BOUNDARY = re.compile(rb'boundary="([^"]+)"')


def normalised(data: bytes) -> bytes:
    """The message with its Date, Message-ID and boundaries replaced by fixed names."""
    data = re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: <date>", data)
    data = re.sub(rb"(?m)^Message-ID: [^\r\n]*", b"Message-ID: <id>", data)
    for n, boundary in enumerate(dict.fromkeys(BOUNDARY.findall(data))):
        data = data.replace(boundary, b"boundary-%d" % n)
    return data


def outbox_emails(site: SiteDir) -> dict[str, bytes]:
    return {path.name: normalised(path.read_bytes()) for path in site.outbox.glob("*.eml")}


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsubscribe tokens are sealed under the secret: the same secret, the same links."""
    monkeypatch.setenv("MAILER_SECRET", SECRET)


def test_every_email_of_the_sample_site_is_byte_for_byte_as_before(site):
    assert site.mailer("run").exit_code == 0  # confirmations, waitlist, the first digest
    rows = site.rows()
    first = next(row for row in rows if row["Status"] == "confirmed")
    first["Status"] = "cancelled"  # a freed seat: a promotion
    site.write_rows("signups", rows)
    events = site.rows("events")
    events[0]["join_url"] = "https://zoom.example.org/j/moved"  # a change: updated invitations
    site.write_rows("events", events)
    assert site.mailer("run", "signups", now=NOW + timedelta(hours=1)).exit_code == 0
    for before in (timedelta(hours=24), timedelta(minutes=50)):
        assert site.mailer("run", "reminders", now=START - before).exit_code == 0
    add_resources(site, "Sleep after hard sessions", "Saying no at work")
    assert site.mailer("run", "digest", now=NEXT_SLOT).exit_code == 0

    emails = outbox_emails(site)
    folder = GOLDEN / "sample"
    if WRITE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.eml"):
            old.unlink()
        for name, data in emails.items():
            (folder / name).write_bytes(data)
    golden = {path.name: path.read_bytes() for path in folder.glob("*.eml")}
    kinds = {name.split("_")[0] for name in emails}
    assert {"confirmation", "waitlist", "promotion", "reminder-1440", "digest"} <= kinds
    assert sorted(emails) == sorted(golden)
    for name, data in emails.items():
        assert data == golden[name], name


@pytest.mark.slow
def test_a_thousand_reader_digest_is_byte_for_byte_as_before(site):
    rows = site.rows("subscribers")
    header = list(rows[0])
    readers = [dict.fromkeys(header, "") for _ in range(1000)]
    for n, reader in enumerate(readers):
        reader["email"] = f"Reader.{n}@Example.org" if n % 7 == 0 else f"reader{n}@example.org"
        reader["name"] = f"Réader Nümber {n}" if n % 3 else ""
        reader["subscribed_on"] = "2026-11-01"
    site.write_rows("subscribers", readers)
    assert site.mailer("run", "digest").exit_code == 0

    emails = outbox_emails(site)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in emails.items()}
    manifest = GOLDEN / "digest-1000.json"
    if WRITE:
        manifest.write_text(json.dumps(digests, indent=0, sort_keys=True) + "\n")
    assert len(digests) >= 1000
    assert digests == json.loads(manifest.read_text())
