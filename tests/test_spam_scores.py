"""SpamAssassin scores the Spanish emails no worse than the English ones.

Debian's spamassassin with its local rules only (-L: no DNS, no network
tests), on the messages the sample run writes to outbox/: each kind of email
in Spanish against the same kind in English.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, SiteDir

from mailer.tools.sample import session_start

SPAMASSASSIN = shutil.which("spamassassin")
SPANISH = {"tomas.alvarez@example.org", "elena.petrova@example.org", "rosa.jimenez@example.org"}


def score(message: Path, prefs: Path) -> tuple[float, str]:
    """SpamAssassin's score of one .eml, and the rules that made it."""
    checked = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t", "-p", str(prefs)],
        input=message.read_bytes(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    status = re.search(rb"X-Spam-Status: \w+, score=(-?[\d.]+).*?tests=(\S*)", checked.stdout, re.S)
    assert status, checked.stderr.decode(errors="replace")
    return float(status.group(1)), status.group(2).decode()


@pytest.mark.slow
@pytest.mark.skipif(not SPAMASSASSIN, reason="needs Debian's spamassassin (make spamassassin)")
def test_spanish_emails_score_no_worse_than_english_ones(site: SiteDir, tmp_path: Path):
    site.mailer("run", "signups")
    start = session_start(NOW, site.settings().organization.zone)
    site.mailer("run", "reminders", now=start - timedelta(hours=1))
    prefs = tmp_path / "user_prefs"

    scores: dict[tuple[str, bool], list[float]] = {}
    for line in site.sent():
        points, _ = score(site.outbox / line["file"], prefs)
        scores.setdefault((line["kind"], line["to"] in SPANISH), []).append(points)

    kinds = {kind for kind, spanish in scores if spanish}
    assert kinds == {"confirmation", "waitlist", "reminder"}
    for kind in kinds:
        assert max(scores[(kind, True)]) <= max(scores[(kind, False)]), kind
        assert max(scores[(kind, True)]) < 2.0, kind
