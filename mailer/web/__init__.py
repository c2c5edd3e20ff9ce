"""`mailer serve`: the pages and hooks that face the internet.

`app` is the Flask application (unsubscribe, resubscribe) with the
guard every route shares (body caps, cross-site refusals, error pages),
`seat_pages` the self-service seat pages (claim, release), `sendgrid_events`
reads SendGrid's Event Webhook into the ledger, `ledgers` keeps one ledger
connection per server thread, and `server` the waitress server, set so slow
clients cannot starve the rest; `healthz` answers /healthz from the ledger.
"""
