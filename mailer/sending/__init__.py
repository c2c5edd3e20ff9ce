"""Delivery: pending messages out through a transport, at a pace the provider allows.

`delivery` claims, sends and records each message (sent, retry, failed, unknown),
`pacing` keeps to daily and per-minute limits and pauses on "not now", and
`transports/` holds one module per way out (outbox, smtp, sendgrid, memory)
behind one interface, opened from the settings in `transports/__init__.py`.
`bounces/` reads what comes back afterwards: bounce reports in the sending
mailbox, over IMAP ([bounces]).
"""
