"""`mailer serve`: the pages and hooks that face the internet.

`app` is the Flask application (unsubscribe, resubscribe), `healthz` answers
/healthz from the ledger, `seat_pages` the self-service seat pages (claim,
release), and `sendgrid_events` reads SendGrid's Event Webhook into the ledger.
"""
