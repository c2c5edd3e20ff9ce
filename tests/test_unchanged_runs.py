"""A run over an unchanged workbook and ledger does nothing again, and says the same.

The signups job keeps a fingerprint of what a run that changed nothing read;
the next run with the same inputs stops after the read. Anything that could
change a decision makes the inputs differ: a cell, the ledger, the settings,
or the clock passing a session's start or end.
"""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW

from mailer.ledger.sqlite import Ledger

# The sample session: Wednesday 2026-12-02 12:00-13:30 Chicago.
START = NOW + timedelta(days=8, hours=3)
END = START + timedelta(minutes=90)


def settled(site):
    """The first run decides and sends; the second finds nothing to do and keeps the fingerprint."""
    site.mailer("run", "signups")
    return site.mailer("run", "signups", now=NOW + timedelta(minutes=5))


def kept_fingerprint(site) -> tuple[str, str] | None:
    with Ledger(site.settings().ledger.path) as ledger:
        return ledger.fingerprint("signups")


def test_a_run_with_nothing_new_reports_what_the_full_run_reported(site):
    full = settled(site)
    assert kept_fingerprint(site) is not None
    before = site.files()

    spared = site.mailer("run", "signups", now=NOW + timedelta(minutes=10))

    assert spared.output == full.output
    assert "1 row rejected" in spared.output  # a problem is still said every run
    changed = {p for p, data in site.files().items() if before.get(p) != data}
    # the Mailer tab says when each job last ran; nothing else is written
    assert {p for p in changed if p.startswith(("lists", "outbox"))} == {"lists/Mailer.csv"}


def test_a_cell_changed_after_the_fingerprint_is_acted_on(site):
    settled(site)
    rows = site.rows()
    first = next(row for row in rows if row["Status"] == "confirmed")
    first["Status"] = "cancelled"
    site.write_rows("signups", rows)

    site.mailer("run", "signups", now=NOW + timedelta(minutes=10))

    assert [line["kind"] for line in site.sent() if line["kind"] == "promotion"] == ["promotion"]


def test_a_ledger_change_by_another_command_is_acted_on(site):
    settled(site)
    reader = site.rows("subscribers")[0]["email"]
    assert site.mailer("unsubscribe", reader).exit_code == 0

    site.mailer("run", "signups", now=NOW + timedelta(minutes=10))

    rows = {row["email"]: row["unsubscribed_on"] for row in site.rows("subscribers")}
    assert rows[reader] != ""


def test_the_clock_passing_a_session_end_is_a_change(site):
    settled(site)

    after = site.mailer("run", "signups", now=END + timedelta(minutes=1))
    before_end = site.mailer("run", "signups", now=END - timedelta(minutes=1))

    assert "No upcoming sessions in the workbook." in after.output
    assert "No upcoming sessions in the workbook." not in before_end.output


def test_changed_settings_are_a_change(site):
    settled(site)
    before = kept_fingerprint(site)
    text = site.config.read_text()
    site.config.write_text(text.replace('name = "Community Care Network"', 'name = "CCN"', 1))

    site.mailer("run", "signups", now=NOW + timedelta(minutes=10))

    after = kept_fingerprint(site)  # decided again in full, found nothing to do, kept anew
    assert before is not None and after is not None
    assert after[0] != before[0]
