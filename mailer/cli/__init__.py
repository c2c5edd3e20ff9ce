"""The `mailer` command: each command a thin call into the library.

`commands` holds the click commands; `progress` shows a long send on a
terminal or in logs.
"""
