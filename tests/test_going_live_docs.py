"""The README's "Going live" checklist and systemd units that let mailer write what it writes."""

from __future__ import annotations

import re

from conftest import REPO


def test_the_readme_has_a_going_live_checklist_before_the_reference():
    readme = (REPO / "README.md").read_text()
    going_live = " ".join(readme.split("## Going live")[1].split("\n## ")[0].split())

    assert readme.index("## Going live") < readme.index("## Contents")
    assert readme.index("## Going live") < readme.index("](docs/commands.md")
    for must in (
        "smtp.gmail.com",
        "2-Step Verification",
        "App Password",
        "Workspace",
        "verify the sender",
        "SPF",
        "DKIM",
        "DMARC",
        "mailer run --dry-run",
        "mailto:",
        "mailer unsubscribe ADDRESS",
        "state/",
    ):
        assert must in going_live, must


def test_every_systemd_unit_that_locks_the_system_lets_mailer_write_the_csv_workbook():
    running = (REPO / "docs" / "running.md").read_text()
    units = re.findall(r"```ini\n(.*?)```", running, re.DOTALL)
    strict = [unit for unit in units if "ProtectSystem=strict" in unit]

    assert strict, "the units protect the system"
    for unit in strict:
        [paths] = re.findall(r"^ReadWritePaths=(.*)$", unit, re.MULTILINE)
        assert "/srv/mailer/state" in paths.split()
        assert "/srv/mailer/lists" in paths.split()
