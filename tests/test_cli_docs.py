"""Every command is in the commands page and explains itself with an example."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import REPO

from mailer.cli.commands import cli

COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_commands_page(name):
    assert f"`mailer {name}" in (REPO / "docs" / "commands.md").read_text()


def test_the_readme_links_the_commands_page():
    assert "](docs/commands.md" in (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])

    assert result.exit_code == 0
    assert "Example" in result.output


def test_the_readme_opens_with_the_two_setup_commands():
    opening = (REPO / "README.md").read_text().split("\n## ")[0]

    assert "make run" in opening and "make test" in opening


def test_the_readmes_first_run_is_what_make_run_prints(site):
    section = (REPO / "README.md").read_text().split("## A first run")[1]
    shown = section.split("```")[1].strip().splitlines()

    printed = site.mailer("run").output.splitlines()

    for line in shown:
        assert line.rstrip() in [p.rstrip() for p in printed], line
