"""`python -m mailer` is the `mailer` command."""

from mailer.cli.commands import main

main()
