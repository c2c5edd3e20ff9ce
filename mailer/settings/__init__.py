"""The site's settings: mailer.toml, jobs/*.toml and the environment, read and checked once.

`config` turns the files into typed, frozen settings (organization, workbook,
transport, ledger, server, form, series, self-service) and one JobSettings per
job; a mistake is one line naming the file and the key, each value checked
against the rule its field carries (`rules`: ranges, durations, URLs,
addresses), so every command refuses the same values. `kinds` is the table
of job kinds (name, [options] dataclass, the module that runs it) and `schema`
the workbook's default tabs and columns, both read here to check the files;
`event_key` reads SendGrid's webhook key and refuses any but an ECDSA one.
Everything above reads these values; nothing here reads the workbook, the
ledger or the network.
"""
