"""`mailer run --dry-run`: what would go out at a moment, with nothing written, sent or used up."""

from __future__ import annotations

import re

import pytest

from mailer.core.redact import mask

TOMORROW = "2026-11-25T09:00"  # NOW is Tuesday 09:00 in Chicago, the site's zone
SESSION_EVE = "2026-12-01T12:30"  # the day before the sample session: reminders are due


def all_sent(site) -> dict[str, dict[str, str]]:
    """The outbox's index lines by idempotency key, digests included."""
    return {line["key"]: line for line in site.sent() + site.sent(digests=True)}


def test_a_dry_run_lists_what_would_go_out_tomorrow_and_changes_no_byte(site):
    before = site.files()

    result = site.mailer("run", "--dry-run", "--now", TOMORROW, now=None)

    assert result.exit_code == 0, result.output
    assert "Dry run as of Wed Nov 25 09:00 CST" in result.output
    # 12 confirmations and 2 waitlist notices; the digest to 7 people
    assert "Would send 21 emails:" in result.output
    assert "Emails: 14 new, would send 14." in result.output  # nothing was sent
    assert not re.search(r"\d+ sent", result.output)
    assert "  confirmation | ccs-2026-12-02 | Maya Okafor <m***@example.org> | " in result.output
    assert "  digest | - | " in result.output
    assert site.files() == before  # no ledger, no outbox, the workbook as it was


def test_a_dry_run_after_real_runs_leaves_ledger_outbox_and_sheet_as_they_were(site):
    site.mailer("run")
    before = site.files()

    result = site.mailer("run", "--dry-run", "--now", SESSION_EVE, now=None)

    assert "Would send 12 emails:" in result.output
    assert "  reminder | ccs-2026-12-02 | " in result.output
    assert site.files() == before


@pytest.mark.parametrize("first_run", [False, True], ids=["fresh site", "after a run"])
def test_a_real_run_after_a_dry_run_sends_exactly_what_it_listed(site, first_run):
    if first_run:
        site.mailer("run")
    moment = SESSION_EVE if first_run else TOMORROW
    already = all_sent(site)
    listed = site.mailer("run", "--dry-run", "--now", moment, now=None).output

    site.mailer("run", "--now", moment, "--force", now=None)

    new = [line for key, line in all_sent(site).items() if key not in already]
    assert new
    assert f"Would send {len(new)} emails:" in listed
    for line in new:
        assert f"  {line['kind']} | {line['event'] or '-'} | " in listed
        assert f"<{mask(line['to'])}> | {line['subject']}" in listed
