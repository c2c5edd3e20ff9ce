"""Small helpers any room may use: errors, files, redaction, text, durations, retries, tokens.

Nothing here knows about sessions, sheets or mail; each module does one plain
thing (the error types, writing a file atomically or privately, masking addresses and
secrets, wording plurals and columns, reading "5 minutes", which moments
`--now` may name, bounded retries, secrets from the environment or a *_FILE,
the site secret and the tokens signed with it) and imports nothing from the
rest of the package.
"""
