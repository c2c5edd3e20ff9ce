"""`python -m mailer` is the `mailer` command."""

from mailer.cli import main

main()
